#!/usr/bin/env python3
"""Independent verifier for Jinn Guard audit logs (PROTOCOL.md §8), standard library only.

Written from the protocol text, not from the Swift code, so that agreement between the two is evidence
of byte compatibility. The four objects are cut out of each line by brace matching, as outside
verifiers do, and hashed as raw bytes -- never re-serialised.

Usage: verify_audit.py LOG [--manifests PATH]
Exit 0 when the chain verifies, 1 with the first bad line on stderr, 2 on usage or I/O errors.
"""
import hashlib
import json
import os
import re
import struct
import sys

KEYS = ["index", "timestamp_secs", "prev_hash", "observation", "intent", "assessment", "decision", "hash"]
OBJECT_KEYS = KEYS[3:7]
HEX64 = re.compile(rb"^[0-9a-f]{64}$")
ZERO = "0" * 64


class Bad(Exception):
    pass


class Pairs(list):
    """An object's members in document order, so key order can be checked."""


def strict_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Bad("duplicate key")
    return Pairs(pairs)


def to_obj(v):
    if isinstance(v, Pairs):
        return {k: to_obj(x) for k, x in v}
    if isinstance(v, list):
        return [to_obj(x) for x in v]
    return v


def reject_constant(name):
    raise Bad("non-standard JSON constant " + name)


def match_object(line, start):
    """End offset (exclusive) of the object starting at line[start] == '{', skipping strings."""
    if start >= len(line) or line[start:start + 1] != b"{":
        raise Bad("expected an object at byte %d" % start)
    depth, i, in_str = 0, start, False
    while i < len(line):
        c = line[i:i + 1]
        i += 1
        if in_str:
            if c == b"\\":
                i += 1
            elif c == b'"':
                in_str = False
            continue
        if c == b'"':
            in_str = True
        elif c == b"{":
            depth += 1
        elif c == b"}":
            depth -= 1
            if depth == 0:
                return i
    raise Bad("unterminated object at byte %d" % start)


def check_line(line, expected_index, prev):
    try:
        parsed = json.loads(line.decode("utf-8"), object_pairs_hook=strict_pairs, parse_constant=reject_constant)
    except (ValueError, Bad) as e:
        raise Bad("not valid JSON: %s" % e)
    if not isinstance(parsed, Pairs) or [k for k, _ in parsed] != KEYS:
        raise Bad("top-level keys must be exactly " + ",".join(KEYS) + " in that order")
    entry = to_obj(parsed)
    index, ts, prev_hash, stored = entry["index"], entry["timestamp_secs"], entry["prev_hash"], entry["hash"]
    for name, v in (("index", index), ("timestamp_secs", ts)):
        if type(v) is not int or not 0 <= v < 2 ** 64:
            raise Bad(name + " must be an unsigned 64-bit integer")
    for name, v in (("prev_hash", prev_hash), ("hash", stored)):
        if not isinstance(v, str) or not HEX64.match(v.encode()):
            raise Bad(name + " must be 64 lowercase hex digits")
    for k in OBJECT_KEYS:
        if not isinstance(entry[k], dict):
            raise Bad(k + " must be an object")
    if index != expected_index:
        raise Bad("index %d, expected %d" % (index, expected_index))
    if prev_hash != prev:
        raise Bad("prev_hash does not link to the previous entry")

    # Cut each object after the previous one, so a key name inside an earlier object cannot be mistaken
    # for the top-level one.
    h = hashlib.sha256()
    h.update(struct.pack(">QQ", index, ts))
    h.update(prev_hash.encode("ascii"))
    offset = 0
    for k in OBJECT_KEYS:
        marker = b',"' + k.encode() + b'":'
        pos = line.find(marker, offset)
        if pos < 0:
            raise Bad("cannot locate " + k)
        start = pos + len(marker)
        end = match_object(line, start)
        h.update(line[start:end])
        offset = end
    if h.hexdigest() != stored:
        raise Bad("hash mismatch at index %d" % index)

    if index == 0:
        intent = entry["intent"]
        signals = intent.get("signals")
        if intent.get("class") != "Boot" or not isinstance(signals, list):
            raise Bad("entry 0 is not a boot marker")
        if "jinnguard.boot_marker" not in signals or not any(
                isinstance(s, str) and s.startswith("kernel_release=") and len(s) > 15 for s in signals):
            raise Bad("entry 0 boot marker lacks jinnguard.boot_marker or kernel_release=")
    return stored


def highest_attested(path):
    if not os.path.exists(path):
        return None
    best = None
    with open(path, "rb") as f:
        for n, raw in enumerate(f.read().split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                cp = json.loads(raw.decode("utf-8"))["checkpoint"]
                last = cp["last_index"]
                if type(last) is not int or last < 0:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise Bad("manifests line %d malformed" % n)
            best = last if best is None else max(best, last)
    return best


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    log = args[0]
    manifests = log + ".manifests"
    if len(args) == 3 and args[1] == "--manifests":
        manifests = args[2]
    elif len(args) != 1:
        print("usage: verify_audit.py LOG [--manifests PATH]", file=sys.stderr)
        return 2
    try:
        with open(log, "rb") as f:
            data = f.read()
    except OSError as e:
        print("cannot read %s: %s" % (log, e), file=sys.stderr)
        return 2

    lines = data.split(b"\n")
    torn = lines.pop()  # bytes after the final newline; empty when the file ends cleanly
    prev, count = ZERO, 0
    for n, line in enumerate(lines, 1):
        try:
            prev = check_line(line, count, prev)
        except Bad as e:
            print("FAIL line %d: %s" % (n, e), file=sys.stderr)
            return 1
        count += 1
    if torn:
        print("FAIL line %d: last line has no terminating newline (torn tail)" % (len(lines) + 1), file=sys.stderr)
        return 1
    try:
        attested = highest_attested(manifests)
    except Bad as e:
        print("FAIL %s" % e, file=sys.stderr)
        return 1
    if attested is not None and count <= attested:
        print("FAIL line %d: truncated: %d entries but manifests attest last_index %d" % (count + 1, count, attested),
              file=sys.stderr)
        return 1
    print("OK %d entries" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
