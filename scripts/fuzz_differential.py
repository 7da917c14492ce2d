#!/usr/bin/env python3
"""Differential checks (#16, docs/fuzzing.md) through the fuzz binary's oracle mode (JG_FUZZ_ORACLE):

  json       our JSONParser against Python's json with duplicate-key detection (object_pairs_hook) and
             NaN/Infinity refused: same accept/reject, same values. The documented differences of
             PROTOCOL.md §3 (ours is stricter) are classified, counted and allowed; anything else fails.
  invariant  our invariant parser's exact folding and evaluation against fractions.Fraction over random
             linear invariants and random decimal values: same truth value.
  url        our network_request URL rules against libcurl's curl_url: a URL we allow names the same
             host and port for curl (or curl refuses it).

Usage: fuzz_differential.py BIN [--count N] [--seed S]. Exit 1 on any unexplained disagreement."""
import argparse, ipaddress, json, random, subprocess, sys
from fractions import Fraction

MAX_DEPTH = 64  # JSONParser.defaultMaxDepth


def oracle(binary, kind, inputs):
    text = "".join(i.hex() + "\n" for i in inputs)
    r = subprocess.run([binary], input=text, capture_output=True, text=True, env={"JG_FUZZ_ORACLE": kind}, timeout=600)
    if r.returncode != 0:
        sys.exit(f"oracle {kind} exited {r.returncode}: {r.stderr[-2000:]}")
    out = r.stdout.split("\n")[:-1]
    if len(out) != len(inputs):
        sys.exit(f"oracle {kind}: {len(out)} answers for {len(inputs)} inputs")
    return out


# ---------------------------------------------------------------- JSON

class Duplicate(Exception):
    pass


def no_duplicates(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise Duplicate(k)
        seen.add(k)
    return ("obj", pairs)


def refuse_constant(name):
    raise ValueError(name)


def tagged(v):
    if v is None:
        return ["z"]
    if isinstance(v, bool):
        return ["b", v]
    if isinstance(v, int):
        return ["i", str(v)] if -2 ** 63 <= v < 2 ** 64 else ["f", float(v)]
    if isinstance(v, float):
        return ["f", v]
    if isinstance(v, str):
        return ["s", [ord(c) for c in v]]
    if isinstance(v, list):
        return ["a", [tagged(x) for x in v]]
    if isinstance(v, tuple) and v[0] == "obj":
        return ["o", [[[ord(c) for c in k], tagged(x)] for k, x in v[1]]]
    raise TypeError(type(v))


def ours_tagged(line):
    t = json.loads(line)
    def fix(x):
        if x[0] == "f":
            return ["f", float(x[1])]
        if x[0] == "a":
            return ["a", [fix(e) for e in x[1]]]
        if x[0] == "o":
            return ["o", [[k, fix(e)] for k, e in x[1]]]
        return x
    return fix(t)


def python_json(b):
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return tagged(json.loads(s, object_pairs_hook=no_duplicates, parse_constant=refuse_constant))
    except (ValueError, Duplicate, RecursionError):
        return None


def depth(t):
    if t[0] in ("a", "o"):
        kids = t[1] if t[0] == "a" else [e for _, e in t[1]]
        return 1 + max((depth(k) for k in kids), default=0)
    return 0


def has_lone_surrogate(t):
    if t[0] == "s":
        return any(0xD800 <= c <= 0xDFFF for c in t[1])
    if t[0] == "a":
        return any(has_lone_surrogate(e) for e in t[1])
    if t[0] == "o":
        return any(any(0xD800 <= c <= 0xDFFF for c in k) or has_lone_surrogate(e) for k, e in t[1])
    return False


def has_infinite(t):
    if t[0] == "f":
        return t[1] in (float("inf"), float("-inf"))
    if t[0] == "a":
        return any(has_infinite(e) for e in t[1])
    if t[0] == "o":
        return any(has_infinite(e) for _, e in t[1])
    return False


def same(a, b):
    if a[0] in ("i", "f") and b[0] in ("i", "f"):
        # "5" and "5.0" must stay apart (PROTOCOL.md §3): the kind must match, then the value.
        return a[0] == b[0] and (int(a[1]) == int(b[1]) if a[0] == "i" else a[1] == b[1])
    if a[0] != b[0]:
        return False
    if a[0] == "a":
        return len(a[1]) == len(b[1]) and all(same(x, y) for x, y in zip(a[1], b[1]))
    if a[0] == "o":
        return len(a[1]) == len(b[1]) and all(k == l and same(x, y) for (k, x), (l, y) in zip(a[1], b[1]))
    return a == b


TOKENS = [b"{", b"}", b"[", b"]", b":", b",", b'"', b"\\", b"\\u", b"\\ud800", b"\\udc00", b"\\ud83d\\ude00", b"0", b"-",
          b"1", b"9", b".", b"e", b"E+", b"-0", b"1e400", b"18446744073709551616", b"true", b"false", b"null", b" ", b"\t",
          b"\n", b"\x00", b"\x1f", b"\xc3\xa9", b"\xff", b"NaN", b'"a"', b'"a":1', b"01", b"1.5", b"\\n", b"\\x"]


def gen_value(r, d=0):
    k = r.randrange(9 if d < 6 else 5)
    if k == 0: return None
    if k == 1: return r.choice([True, False])
    if k == 2: return r.choice([0, -1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, -2 ** 63, r.randrange(-10 ** 6, 10 ** 6), 10 ** 30])
    if k == 3: return r.choice([0.5, -0.0, 1e-310, 1.7976931348623157e308, 5e-324, r.uniform(-1e9, 1e9), 1e22, 0.1])
    if k == 4: return "".join(r.choice(["a", "é", "\u0000", "\u001f", "\"", "\\", "😀", "\u2028", "\ufffd", "/"]) for _ in range(r.randrange(5)))
    if k in (5, 6): return [gen_value(r, d + 1) for _ in range(r.randrange(4))]
    return {r.choice(["a", "b", "c", "sequence_counter", "é"]) + str(r.randrange(3)): gen_value(r, d + 1) for _ in range(r.randrange(4))}


def gen_json(r, seeds):
    k = r.randrange(4)
    if k == 0:
        v = gen_value(r)
        b = json.dumps(v, ensure_ascii=r.random() < 0.5).encode()
        if r.random() < 0.3 and isinstance(v, dict) and v:  # a duplicate key, by text
            b = b[:-1] + b', ' + json.dumps(next(iter(v))).encode() + b': 1}'
        return b
    b = bytearray(r.choice(seeds))
    for _ in range(r.randrange(1, 4)):
        op = r.randrange(3)
        p = r.randrange(len(b) + 1)
        if op == 0: b[p:p] = r.choice(TOKENS)
        elif op == 1 and b: del b[p:p + r.randrange(1, 4)]
        elif b: b[min(p, len(b) - 1)] = r.randrange(256)
    if r.random() < 0.05:
        n = r.choice([63, 64, 65, 66])
        b = b"[" * n + bytes(b) + b"]" * n
    return bytes(b)


def run_json(binary, r, count):
    seeds = [json.dumps(gen_value(r)).encode() for _ in range(50)] + [b'{"sequence_counter":1}', b'[1,{"a":"\\u00e9"}]', b'"\\ud83d\\ude00"']
    inputs = [gen_json(r, seeds) for _ in range(count)]
    ours = oracle(binary, "json", inputs)
    expected = {"nesting deeper than 64 (ours rejects)": 0, "lone surrogate escape (ours rejects)": 0,
                "number beyond Double range (ours rejects)": 0}
    accepted = rejected = 0
    bad = []
    for b, o in zip(inputs, ours):
        py = python_json(b)
        if o == "ERR" and py is None:
            rejected += 1
            continue
        if o != "ERR" and py is not None:
            if same(ours_tagged(o), py):
                accepted += 1
                continue
            bad.append((b, "values differ", o, py))
            continue
        if o == "ERR" and py is not None:
            if depth(py) > MAX_DEPTH:
                expected["nesting deeper than 64 (ours rejects)"] += 1; continue
            if has_lone_surrogate(py):
                expected["lone surrogate escape (ours rejects)"] += 1; continue
            if has_infinite(py):
                expected["number beyond Double range (ours rejects)"] += 1; continue
            bad.append((b, "ours rejects, Python accepts", o, py))
        else:
            bad.append((b, "ours accepts, Python rejects", o, None))
    print(f"json: {count} inputs, {accepted} accepted alike, {rejected} rejected alike, "
          + ", ".join(f"{n} {k}" for k, n in expected.items()) + f", {len(bad)} unexplained")
    for b, why, o, py in bad[:10]:
        print(f"  {why}: {b!r}\n    ours: {o[:200]}\n    python: {str(py)[:200]}")
    return not bad


# ---------------------------------------------------------------- invariants

VARS = ["a", "b", "fused_risk"]


def decimal_text(r):
    m = r.randrange(0, 10 ** r.randrange(1, 8))
    e = r.randrange(-6, 4)
    sign = r.choice(["", "-"]) if r.random() < 0.3 else ""
    k = r.randrange(3)
    if k == 0:
        return f"{sign}{m}", Fraction(int(f"{sign}{m}" if m else "0"))
    if k == 1:
        digits = str(m)
        cut = r.randrange(len(digits) + 1)
        t = f"{sign}{digits[:cut] or '0'}.{digits[cut:] or '0'}"
        return t, Fraction(t)
    t = f"{sign}{m}e{e}"
    return t, Fraction(int(f"{sign}{m}" if m else "0")) * Fraction(10) ** e


def gen_sum(r, d=0):
    """Text, and the value as a function of the variables; linear by construction."""
    k = r.randrange(5 if d < 3 else 2)
    if k == 0:
        t, v = decimal_text(r)
        if t.startswith("-"):
            t = f"({t})"
        return t, (lambda env, v=v: v), True
    if k == 1:
        n = r.choice(VARS)
        return n, (lambda env, n=n: env[n]), False
    a, fa, ca = gen_sum(r, d + 1)
    b, fb, cb = gen_sum(r, d + 1)
    if k == 2:
        return f"{a} + {b}", (lambda env: fa(env) + fb(env)), ca and cb
    if k == 3:
        return f"{a} - ({b})", (lambda env: fa(env) - fb(env)), ca and cb
    if not (ca or cb):  # product: one side a constant
        b, fb, cb = decimal_text(r)[0], (lambda env, v=Fraction(0): v), True
        t, v = decimal_text(r)
        b, fb = (f"({t})" if t.startswith("-") else t), (lambda env, v=v: v)
    return f"({a}) * ({b})", (lambda env: fa(env) * fb(env)), ca and cb


OPS = {"<=": lambda x, y: x <= y, ">=": lambda x, y: x >= y, "<": lambda x, y: x < y, ">": lambda x, y: x > y,
       "==": lambda x, y: x == y, "!=": lambda x, y: x != y}


def gen_invariant(r, d=0):
    k = r.randrange(4 if d < 3 else 1)
    if k == 0:
        a, fa, _ = gen_sum(r)
        b, fb, _ = gen_sum(r)
        if r.random() < 0.3:  # a comparison that is exactly on its boundary
            b, fb = f"({a})", fa
        op = r.choice(list(OPS))
        return f"{a} {op} {b}", (lambda env: OPS[op](fa(env), fb(env)))
    a, fa = gen_invariant(r, d + 1)
    if k == 3:
        return f"!({a})", (lambda env: not fa(env))
    b, fb = gen_invariant(r, d + 1)
    if k == 1:
        return f"({a}) && ({b})", (lambda env: fa(env) and fb(env))
    return f"({a}) || ({b})", (lambda env: fa(env) or fb(env))


def run_invariant(binary, r, count):
    cases = []
    for _ in range(count):
        text, f = gen_invariant(r)
        env, assign = {}, []
        for n in VARS:
            t, v = decimal_text(r)
            env[n] = v
            assign.append(f"{n}={t}")
        cases.append((text, f(env), text + "\t" + ";".join(assign)))
    ours = oracle(binary, "invariant", [c[2].encode() for c in cases])
    agree = caps = 0
    bad = []
    for (text, truth, line), o in zip(cases, ours):
        if o == "CAP":
            caps += 1
        elif o in ("T", "F") and (o == "T") == truth:
            agree += 1
        else:
            bad.append((line, o, truth))
    print(f"invariant: {count} invariants, {agree} same truth value, {caps} beyond the size caps, {len(bad)} disagreements")
    for line, o, truth in bad[:10]:
        print(f"  {line!r}: ours {o}, exact {truth}")
    return not bad


# ---------------------------------------------------------------- URLs

HOSTS = ["example.com", "EXAMPLE.com", "example.com.", "8.8.8.8", "127.0.0.1", "[2001:db8::1]", "[::ffff:8.8.8.8]", "[::1]",
         "2130706433", "0x08080808", "8.8.8.010", "exa%6dple.com", "xn--nxasmq6b.com", "a..b", "a_b.com", "[2001:db8::1%25eth0]",
         "10.0.0.1", "169.254.169.254", "1.1.1.1.", "example.com:", "[fe80::1]", "0.0.0.0", "ex ample.com", "例え.jp"]


def gen_url(r):
    scheme = r.choice(["https", "https", "HTTPS", "http", "ftp"])
    host = r.choice(HOSTS)
    port = r.choice(["", "", ":443", ":8443", ":0", ":65535", ":65536", ":08443", ": 1", ":1x"])
    path = r.choice(["", "/", "/a?b#c", "?q", "#f", "/@x", "\\", "/%2e%2e/"])
    u = f"{scheme}://{host}{port}{path}"
    if r.random() < 0.2:
        p = r.randrange(len(u))
        u = u[:p] + r.choice(["@", ":", "/", "\\", "%", "[", "]", " ", "\t", "#", "?", "."]) + u[p:]
    return u


def addr(h):
    try:
        return ipaddress.ip_address(h.strip("[]"))
    except ValueError:
        return None


def run_url(binary, r, count):
    urls = [gen_url(r) for _ in range(count)]
    ours = oracle(binary, "url", [u.encode() for u in urls])
    allowed = refused_by_curl = 0
    bad = []
    for u, o in zip(urls, ours):
        if o == "REJECT":
            continue
        allowed += 1
        if o.endswith("\tcurl-refuses"):
            refused_by_curl += 1
            continue
        # Fields from the right: a host may hold a tab (our rules then allow it; curl refuses it).
        head, _, ch, cp = o.rsplit("\t", 3)
        _, h, p = head.rsplit("\t", 2)
        ch = ch[:-1] if ch.endswith(".") else ch
        if not (h == ch or (addr(h) is not None and addr(h) == addr(ch))) or p != cp:
            bad.append((u, o))
    print(f"url: {count} URLs, {allowed} allowed by our rules ({refused_by_curl} of them refused by curl), {len(bad)} disagreements")
    for u, o in bad[:10]:
        print(f"  {u!r}: {o}")
    return not bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--only", choices=["json", "invariant", "url"])
    a = ap.parse_args()
    ok = True
    for name, run in (("json", run_json), ("invariant", run_invariant), ("url", run_url)):
        if a.only in (None, name):
            ok = run(a.binary, random.Random(f"{a.seed}-{name}"), a.count) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
