"""The prover as an operator sees it: `policy check` analysis, `policy diff` counterexamples, and an
explained denial read back with `audit show` (docs/invariants.md)."""

import json
import re
from pathlib import Path

from e2e_helpers import JINNGUARD_BIN  # noqa: F401  (the fixtures check it exists)


CONTRADICTORY = """\
global_safety_ceiling: 90.0
agent_nodes:
  - id: ok_agent
    privilege_tier: 1
    invariants:
      - "fused_risk <= 50"
  - id: vacuous_agent
    privilege_tier: 1
    invariants:
      - "spend < 100"
      - "fused_risk <= 60"
      - "spend > 120"
"""

OLD = """\
global_safety_ceiling: 80.0
agent_nodes:
  - id: billing
    privilege_tier: 1
    invariants:
      - "spending_ceiling_usd <= 150.00"
  - id: steady
    privilege_tier: 1
    invariants:
      - "x < 3"
"""

NEW_WIDER = OLD.replace('"spending_ceiling_usd <= 150.00"', '"spending_ceiling_usd <= 150.00 || trust_score >= 90"')


def test_check_rejects_contradictory_policy_naming_both_invariants(daemon_factory, tmp_path):
    d = daemon_factory(start=False)
    p = tmp_path / "contradictory.yaml"
    p.write_text(CONTRADICTORY)
    r = d.cli("policy", "check", str(p))
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [l for l in r.stdout.splitlines() if l.endswith("[error]")]
    assert len(errors) == 1, r.stdout
    e = errors[0]
    assert e.startswith(f"{p}:10: agent 'vacuous_agent': "), e
    assert '"spend < 100" (line 10)' in e and '"spend > 120" (line 12)' in e, e
    # The minimal conflicting set: the unrelated invariant is not named.
    assert "fused_risk <= 60" not in e, e


def test_check_accepts_with_warnings_exit_0(daemon_factory, tmp_path):
    d = daemon_factory(start=False)
    p = tmp_path / "warn.yaml"
    p.write_text(CONTRADICTORY.replace('"spend > 120"', '"spend < 200"'))
    r = d.cli("policy", "check", str(p))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"^{re.escape(str(p))}:12: agent 'vacuous_agent': invariant \"spend < 200\" is redundant: "
                     rf"implied by \"spend < 100\" \(line 10\) \[warning\]$", r.stdout, re.M), r.stdout


def test_daemon_refuses_policy_with_analysis_errors(daemon_factory):
    d = daemon_factory(policy=CONTRADICTORY, start=False)
    out = d.expect_refusal()
    assert "can never hold together" in out, out


def test_diff_widened_agent_prints_counterexample_exit_2(daemon_factory, tmp_path):
    d = daemon_factory(start=False)
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(OLD)
    new.write_text(NEW_WIDER)
    r = d.cli("policy", "diff", str(old), str(new))
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout
    m = re.search(r"agent 'billing' .*: wider: NEW admits a state OLD denied: (.*)\n\s+OLD denies it by (.*)", out)
    assert m, out
    values = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
    assert set(values) == {"fused_risk", "spending_ceiling_usd", "trust_score"}, values
    # The counterexample really is admitted by NEW and denied by OLD.
    fr, spend, trust = float(values["fused_risk"]), float(values["spending_ceiling_usd"]), float(values["trust_score"])
    assert spend > 150 and trust >= 90 and fr <= 80 and abs(trust - (100 - fr)) < 1e-9, values
    assert '"spending_ceiling_usd <= 150.00"' in m.group(2)
    assert "agent 'steady'" in out and "equivalent" in out.split("agent 'steady'")[1].splitlines()[0]
    assert "result: wider (exit 2)" in out
    # And the reverse direction is narrower.
    r = d.cli("policy", "diff", str(new), str(old))
    assert r.returncode == 1, r.stdout


def test_diff_error_exit_4(daemon_factory, tmp_path):
    d = daemon_factory(start=False)
    old = tmp_path / "old.yaml"
    old.write_text(OLD)
    r = d.cli("policy", "diff", str(old), str(tmp_path / "missing.yaml"))
    assert r.returncode == 4, r.stdout


def test_denial_audit_record_names_invariant_and_values(daemon):
    c = daemon.client()
    r = c.propose("billing_agent", "read_customer_record", sequence_counter=daemon.seq(), action_risk_score=10,
                  context_vars={"spending_ceiling_usd": 175.5})
    assert r.token == "DENY_VIOLATION", r
    lines = daemon.wait_audit_count(2)
    denial = None
    for line in lines:
        rec = json.loads(line)
        if rec["decision"].get("verdict") == "DENY_VIOLATION":
            denial = rec
    assert denial is not None, lines
    assert denial["assessment"]["violated_invariants"] == ["spending_ceiling_usd <= 150.00"]
    assert "spending_ceiling_usd=175.5" in denial["decision"]["reason"], denial
    s = daemon.cli("audit", "show", str(denial["index"]), "--audit-log", str(daemon.audit))
    assert s.returncode == 0, s.stdout + s.stderr
    assert '"verdict": "DENY_VIOLATION"' in s.stdout
    assert "violated invariants:\n  - spending_ceiling_usd <= 150.00" in s.stdout, s.stdout
    assert re.search(r"^explanation: .*spending_ceiling_usd=175\.5", s.stdout, re.M), s.stdout
    missing = daemon.cli("audit", "show", "999999", "--audit-log", str(daemon.audit))
    assert missing.returncode == 1


def test_hung_prover_times_out_and_is_restarted(daemon):
    """Issue 3: the gate times the prover out with its own token; the supervisor restarts a hung prover."""
    import os
    import signal
    import time
    from e2e_helpers import NONROOT
    before = daemon.wait_components()["jg-prover"]
    os.kill(before, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        assert daemon.token_as(NONROOT, action_risk_score=10) == "DENY_PROVER_TIMEOUT"
        assert time.monotonic() - t0 < 10
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = daemon.components().get("jg-prover")
            if now and now != before:
                break
            time.sleep(0.2)
        assert now and now != before, "the hung prover was not replaced"
    finally:
        try:
            os.kill(before, signal.SIGCONT)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 20
    tok = None
    while time.monotonic() < deadline:
        tok = daemon.token_as(NONROOT, action_risk_score=10)
        if tok == "ALLOW":
            break
        time.sleep(0.3)
    assert tok == "ALLOW", tok
    assert "DENY_PROVER_TIMEOUT" in Path(daemon.audit).read_text(), "the timeout is audited"


def test_prover_sandbox_cannot_open_files_or_create_sockets(tmp_path, daemon):
    """Issue 3: the prover's sandbox (empty root, its own user, no capabilities, seccomp) is entered for real
    by `jg-prover sandbox-selftest`, which then tries to open files, create sockets and fork. The daemon
    made sure the jg-prover user exists; the self-test runs as that user, as the running prover does."""
    import os
    import pwd
    import subprocess
    own = pwd.getpwnam("jg-prover")
    assert own.pw_uid not in (0, 65534)
    empty = tmp_path / "empty"
    empty.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(empty, 0o555)
    prover = os.path.join(os.path.dirname(JINNGUARD_BIN), "jg-prover")
    r = subprocess.run([prover, "sandbox-selftest", str(empty), f"--run-as={own.pw_uid}:{own.pw_gid}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = dict(l.split(": ", 1) for l in r.stdout.splitlines() if ": " in l)
    for what in ("open /etc/passwd", "open /proc/self/status", "socket AF_INET", "socket AF_UNIX", "fork"):
        assert lines.get(what, "").startswith("denied errno=1"), (what, r.stdout)
    assert f"uid={own.pw_uid} euid={own.pw_uid}" in r.stdout, r.stdout
    # without an identity of its own it refuses to run at all (no fallback to a shared user)
    bare = subprocess.run([prover, "sandbox-selftest", str(empty)], capture_output=True, text=True, timeout=30)
    assert bare.returncode != 0 and "--run-as" in bare.stderr, bare.stdout + bare.stderr
