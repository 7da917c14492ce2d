#!/usr/bin/env python3
"""Writes the seed corpora (fuzzing/seeds/<target>/): PROTOCOL.md §9's vectors, the shapes the unit and e2e
tests use, and a valid audit chain. Deterministic; `make fuzz` copies them into its working corpora."""
import hashlib, hmac, json, os, shutil, struct, sys

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "seeds")


def frame(body: bytes) -> bytes:
    return struct.pack(">IB", len(body), 1) + body


def envelope(key: bytes, payload: str) -> bytes:
    sig = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"payload": payload, "signature": sig}, separators=(",", ":")).encode()


PAYLOADS = [
    '{"sequence_counter":1}',
    '{"sequence_counter":700000001,"intent_name":"read_customer_record","action_risk_score":10,"agent_id":"claims_agent"}',
    '{"intent_name":"read_customer_record","agent_id":"claims_agent","sequence_counter":700000001,"session_privilege_bit":0.0,"action_risk_score":10.0}',
    '{"sequence_counter":5,"agent_id":" a ","prompt":"p","plan":null,"source_code":"x","requested_capabilities":["net","fs"],'
    '"context_vars":{"spending_ceiling_usd":12.5,"n":-1e3},"execute":true,"delegation_token":{"x":[1,2]},'
    '"proposed_action":{"kind":"shell_command","command":"echo hi"}}',
    '{"sequence_counter":6,"proposed_action":{"kind":"file_write","path":"out/a.txt","contents":"x\\u00e9\\ud83d\\ude00"}}',
    '{"sequence_counter":7,"proposed_action":{"kind":"network_request","method":"GET","url":"https://example.com/x"}}',
    '{"sequence_counter":8,"proposed_action":{"kind":"file_read","path":"/etc/passwd"}}',
    '{"sequence_counter":5.0}', '{"sequence_counter":0}', '{"sequence_counter":18446744073709551615}',
    '{"sequence_counter":1,"sequence_counter":2}', '{"a":{"b":1,"b":2}}',
]
JSON = PAYLOADS + [
    'null', 'true', 'false', '0', '-0', '-0.0', '1e308', '1E-400', '123456789012345678901234567890', '9223372036854775808',
    '-9223372036854775808', '18446744073709551616', '0.1', '[1,[2,[3,[]]],{}]', '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f"',
    '"\\ud800"', '"\\udc00\\ud800"', '" \\u00e9 é 😀 "', '{"":""}', '[' * 70 + ']' * 70, ' \t\r\n{ "k" : [ 1 , 2 ] } \n',
    'NaN', 'Infinity', '[1,]', '{"a":1,}', '01', '1.', '.5', '+1', "'x'", '"\x01"', '[1 2]', '{"a" 1}',
]
ENVELOPES = [envelope(b"unit-test-secret-key", PAYLOADS[0]), envelope(b"test-secret", PAYLOADS[1]),
             envelope(b"test-secret", PAYLOADS[2]), envelope(b"k", PAYLOADS[3]),
             b"not json", b'{"payload":"p"}', b"[]", b"\xff\xfe\x00", b'{"payload":{"sequence_counter":1},"signature":"00"}',
             b'{"payload":"{}","signature":"zzzz","payload":"x"}', b'{"payload":"{}","signature":"' + b"00" * 32 + b'","extra":1}']

# A decision context as the gate writes it (DecisionContext.encode), for the link target.
def s(v: str) -> bytes:
    b = v.encode(); return struct.pack(">I", len(b)) + b
def opt(v): return b"\x00" if v is None else b"\x01" + s(v)
def strings(l): return struct.pack(">I", len(l)) + b"".join(s(x) for x in l)
def pairs(l): return struct.pack(">I", len(l)) + b"".join(s(k) + struct.pack(">d", v) for k, v in l)
def context(action=True, digested=False) -> bytes:
    b = struct.pack(">Q", 42) + s("claims_agent") + struct.pack(">qII", 1234, 1000, 1000) + s("lin-1") + struct.pack(">Q", 7)
    b += opt("read_customer_record") + s("ab" * 32) + b"\x01" + (b"\x01" if action else b"\x00")
    if action:
        b += s("shell_command") + opt("echo hi") + opt(None) + opt(None) + opt(None) + opt(None)
    b += struct.pack(">dddd", 1.0, 2.0, 3.0, 10.5) + b"\x01" + struct.pack(">d", 20.0)
    b += s("Low") + strings(["sig.a", "sig.b"]) + pairs([("spend", 12.5)]) + pairs([("fused_risk", 10.5), ("is_root", 0.0)])
    b += s("cd" * 32) + struct.pack(">dd", 1.5, 2.5)
    b += (b"\x01" + s("ef" * 32) + s("01" * 32) + struct.pack(">Q", 99)) if digested else b"\x00"
    return b
def decision(constrained: bool) -> bytes:
    b = s("CONSTRAIN" if constrained else "ALLOW") + s("all invariants hold") + strings([]) + (b"\x01" if constrained else b"\x00")
    if constrained: b += b"\x01" + struct.pack(">I", 5) + strings(["example.com:443"]) + struct.pack(">I", 65536)
    return b
def msgs(*bodies): return b"".join(struct.pack(">H", len(x)) + x for x in bodies)
SIDES = ["supervisor", "gate", "prover", "kernel", "broker"]
def pick(f, t): return bytes([SIDES.index(f) * len(SIDES) + SIDES.index(t)])
LINKS = [pick("gate", "prover") + msgs(b"\x01" + context(), b"\x01" + context(False, True)),
         pick("prover", "broker") + msgs(b"\x01" + decision(False) + context(), b"\x01" + decision(True) + context(True, True)),
         pick("gate", "supervisor") + msgs(b"\x01", b"\x02" + s("ok"), b"\x01"),
         pick("supervisor", "gate") + msgs(b"\x01" + s("{}"), b"\x03", b"\x05" + s("a")),
         pick("broker", "gate") + msgs(b"\x02", b"\x01" + struct.pack(">Q", 42) + s("SIGNAL: ALLOW\n"), b"\x02"),
         pick("kernel", "broker") + msgs(b"\x03" + s("a") + struct.pack(">Q", 1) + pairs([("x", 1.0)]))]

FRAMES = [b"\x07" + frame(e) for e in ENVELOPES[:3]] + [
    b"\x01" + bytes.fromhex("0000000501") + b"hello" + frame(b"") + frame(b"x" * 300),
    b"\x02" + bytes.fromhex("ffffffffab"), b"\x03" + frame(b"abc")[:6], b"\x04" + bytes.fromhex("0000012d01") + b"y" * 301,
    b"\x05" + frame(b"a") + bytes.fromhex("0000000102") + b"b"]

INVARIANTS = ["spending_ceiling_usd <= 150.00", "privilege_escalation_depth < 3", "fused_risk <= 74.0", "fused_risk <= 89.0",
              "x == 0.1 + 0.2 - 0.3", "a + 2*b - 0.5*(c - 3) >= -1.5e-3", "!(x > 1) || y != 2 && z == 3",
              "((a)) < (b)", "2 * 3 * x <= 6", "-x >= -10", "x <= 1e6 && x >= 1E-6", "a < b && b < c || !(c == d)",
              "x * y < 1", "x <", "(x < 1", "1 <= 2", "x <= 1 && ", "é < 1", "x <= 1.5e1000000"]

URLS = ["https://example.com/", "https://example.com:8443/a?b#c", "https://[2001:db8::1]/", "https://[::1]:443/",
        "http://10.0.0.1:8080/x", "https://127.0.0.1/", "https://169.254.169.254/latest", "https://example.com./",
        "https://user@example.com/", "https://EXAMPLE.com/", "https://0x7f000001/", "https://2130706433/",
        "https://example.com:0/", "https://example.com:65536/", "https://a.localhost/", "https://metadata.google.internal/",
        "https://example.com\\@evil.com/", "https://exa%6dple.com/", "https://[::ffff:127.0.0.1]/", "ftp://example.com/"]


def audit_chain(n: int) -> bytes:
    prev = "0" * 64
    lines = []
    for i in range(n):
        obs = json.dumps({"agent": "a", "peer_pid": 1}, separators=(",", ":"))
        intent = json.dumps({"class": "Boot", "signals": ["jinnguard.boot_marker", "kernel_release=6.1.0"]} if i == 0
                            else {"class": "Low", "signals": []}, separators=(",", ":"))
        assess = json.dumps({"fused_risk": 1.5}, separators=(",", ":"))
        dec = json.dumps({"verdict": "ALLOW"}, separators=(",", ":"))
        ts = 1700000000 + i
        h = hashlib.sha256(struct.pack(">QQ", i, ts) + prev.encode() + (obs + intent + assess + dec).encode()).hexdigest()
        lines.append('{"index":%d,"timestamp_secs":%d,"prev_hash":"%s","observation":%s,"intent":%s,"assessment":%s,'
                     '"decision":%s,"hash":"%s"}\n' % (i, ts, prev, obs, intent, assess, dec, h))
        prev = h
    return "".join(lines).encode(), prev


def main():
    shutil.rmtree(out, ignore_errors=True)
    chain3, last = audit_chain(3)
    chain1, _ = audit_chain(1)
    audits = [chain3, chain1, chain3 + b"\x00" + b'{"checkpoint":{"last_index":2,"last_hash":"%s"}}\n' % last.encode(),
              chain3 + b"\x00" + b'{"checkpoint":{"last_index":5}}\n', chain3[:-1], chain3.replace(b'"index":1', b'"index":2')]
    policies = [open(os.path.join(here, "..", "deploy", "policy.yaml"), "rb").read(),
                b"global_safety_ceiling: 75.0\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n    invariants: [\"x <= 1\"]\n",
                b"global_safety_ceiling: 75.0\ndeny_anonymous: true\nagent_nodes:\n  - id: a\n    privilege_tier: 1\n"
                b"    tool_limits: {timeout_seconds: 10, cpu_seconds: 10, memory_mb: 512, max_processes: 64, output_bytes: 1048576,"
                b" file_size_mb: 16, max_concurrent_runs: 4, workspace_mb: 8}\n",
                b"global_safety_ceiling: .nan\n", b"agent_nodes: [{id: a, privilege_tier: 1}, {id: a, privilege_tier: 2}]\n"]
    sets = {"frame": FRAMES, "envelope": ENVELOPES, "json": [j.encode() for j in JSON], "proposal": [p.encode() for p in PAYLOADS],
            "link": LINKS, "policy": policies, "invariant": [i.encode() for i in INVARIANTS], "audit": audits,
            "url": [u.encode() for u in URLS]}
    canon = [l for l in sys.stdin.buffer.read().split(b"\n") if l.startswith(b"{")] if not sys.stdin.isatty() else []
    sets["policy-canonical"] = canon + [b'{"format":"jinnguard-policy/1"}']
    for name, items in sets.items():
        d = os.path.join(out, name)
        os.makedirs(d)
        for k, item in enumerate(items):
            with open(os.path.join(d, "seed-%02d" % k), "wb") as f:
                f.write(item)


if __name__ == "__main__":
    main()
