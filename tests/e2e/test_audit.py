"""Audit chain: `jinnguard audit verify`, an independent §8 verifier, one record per decision."""

import json
import re
import shutil

from e2e_helpers import ALLOWED, NONROOT, audit_hash_ok, token_of, tokens_as
from jinnguard import frame

KEY_ORDER = ["index", "timestamp_secs", "prev_hash", "observation", "intent", "assessment",
             "decision", "hash"]


def traffic(d, n=6):
    toks = []
    for i in range(n):
        toks.append(d.token(action_risk_score=10))
        toks.append(d.token(agent="ghost"))
        toks.append(d.token(key=b"bad"))
    return toks


def copy_log(d, tmp_path, name):
    dst = tmp_path / name
    shutil.copy(d.audit, dst)
    manifests = d.audit.with_name(d.audit.name + ".manifests")
    if manifests.exists():
        shutil.copy(manifests, dst.with_name(dst.name + ".manifests"))
    return dst


def test_audit_verify_after_traffic(daemon):
    traffic(daemon)
    r = daemon.cli("audit", "verify", str(daemon.audit))
    assert r.returncode == 0, r.stdout + r.stderr


def test_audit_verify_detects_flipped_digit(daemon, tmp_path):
    traffic(daemon)
    lines = daemon.wait_audit_count(10)
    assert len(lines) >= 10
    good = copy_log(daemon, tmp_path, "good.jsonl")
    r = daemon.cli("audit", "verify", str(good))
    assert r.returncode == 0, "untampered copy: " + r.stdout + r.stderr
    k = 5  # entry index 5 = line 6
    bad = copy_log(daemon, tmp_path, "flip.jsonl")
    text = bad.read_text().splitlines(keepends=True)
    m = re.search(r'"timestamp_secs":(\d+)', text[k])
    ts = m.group(1)
    flipped = ts[:-1] + str((int(ts[-1]) + 1) % 10)
    text[k] = text[k].replace(f'"timestamp_secs":{ts}', f'"timestamp_secs":{flipped}', 1)
    bad.write_text("".join(text))
    r = daemon.cli("audit", "verify", str(bad))
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"rc={r.returncode}: {out}"
    assert re.search(rf"\b({k}|{k + 1})\b", out), f"verify does not name entry {k} / line {k + 1}: {out}"


def test_audit_verify_detects_deleted_line(daemon, tmp_path):
    traffic(daemon)
    lines = daemon.wait_audit_count(10)
    bad = copy_log(daemon, tmp_path, "del.jsonl")
    text = bad.read_text().splitlines(keepends=True)
    k = 4
    del text[k]
    bad.write_text("".join(text))
    r = daemon.cli("audit", "verify", str(bad))
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"rc={r.returncode}: {out}"
    assert re.search(rf"\b({k}|{k + 1})\b", out), f"verify does not name the gap at {k}: {out}"


def test_audit_independent_verifier(daemon):
    traffic(daemon)
    lines = daemon.wait_audit_count(19)
    assert len(lines) >= 19
    prev = "0" * 64
    for i, line in enumerate(lines):
        entry = json.loads(line)
        assert list(entry.keys()) == KEY_ORDER, f"line {i + 1} keys {list(entry.keys())}"
        assert entry["index"] == i
        assert entry["prev_hash"] == prev, f"line {i + 1} prev_hash"
        for k in ("observation", "intent", "assessment", "decision"):
            assert isinstance(entry[k], dict)
        ok, h = audit_hash_ok(line)
        assert ok, f"line {i + 1}: stored {entry['hash']} computed {h}"
        assert re.fullmatch(r"[0-9a-f]{64}", entry["hash"])
        prev = entry["hash"]
    boot = json.loads(lines[0])
    assert boot["intent"].get("class") == "Boot", boot["intent"]
    signals = boot["intent"].get("signals", [])
    assert "jinnguard.boot_marker" in signals
    assert any(s.startswith("kernel_release=") for s in signals), signals


def test_every_decision_from_step3_is_recorded(daemon):
    before = len(daemon.wait_audit_count(1))
    assert before >= 1, "no boot marker"
    sent = []
    for kw in ({}, {"key": b"forged"}, {"agent": "ghost"}, {"agent": None}, {"intent": "nope"},
               {"seq": 0}, {"action_risk_score": 99}, {"agent": "billing_agent"},
               {"delegation_token": "t"}, {"agent": "billing_agent",
                                           "context_vars": {"spending_ceiling_usd": 3}}):
        seq = kw.pop("seq", None)
        seq = daemon.seq() if seq is None else seq
        tok = daemon.token(seq=seq, **kw)
        sent.append((seq, kw.get("agent", "claims_agent"), tok))
    lines = daemon.wait_audit_count(before + len(sent), timeout=5)
    new = len(lines) - before
    assert new == len(sent), f"{new} audit records for {len(sent)} decisions: {sent}"
    # the allowed ones are findable by agent id and counter
    for seq, agent, tok in sent:
        if tok in ALLOWED:
            assert any(agent in l and str(seq) in l for l in lines[before:]), (seq, agent)
