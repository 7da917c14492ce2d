"""`jinnguard keys issue|rotate` (issue 14): a per-agent key readable by one user only, in the key
directory the daemon reads, in force when the command returns, the previous key honoured until its
expiry after a rotation, both audited — over the real daemon."""

import json
import subprocess
import time
from pathlib import Path

from e2e_helpers import CHILD_PY, NONROOT, send_as, token_of

OTHER = NONROOT + 1


def keys(d, *args):
    return d.cli("keys", *args, "--state-dir", str(d.sockdir / "state"))


def key_of(d, agent="claims_agent"):
    return (d.sockdir / "state" / "agent-keys" / agent).read_bytes().strip()


def readable_by(uid, path):
    p = subprocess.run([CHILD_PY, "-c", f"open({str(path)!r}).read()"], user=uid, group=uid, extra_groups=[],
                       capture_output=True, cwd="/")
    return p.returncode == 0


def test_issue_gives_one_user_a_key_in_force_and_audited(daemon):
    r = keys(daemon, "issue", "--agent", "claims_agent", "--user", str(NONROOT))
    assert r.returncode == 0, r.stdout + r.stderr
    path = daemon.sockdir / "state" / "agent-keys" / "claims_agent"
    st = path.stat()
    assert (st.st_uid, st.st_mode & 0o777) == (NONROOT, 0o400)
    assert readable_by(NONROOT, path) and not readable_by(OTHER, path)
    key = key_of(daemon)
    assert daemon.token_as(NONROOT, key=key, action_risk_score=10) == "ALLOW"
    # The agent must sign with its own key now; other agents keep the shared one.
    assert daemon.token(action_risk_score=10) == "DENY_TAMPERED_TOKEN"
    assert daemon.token(agent="stream_agent", action_risk_score=10) == "ALLOW"
    lines = daemon.wait_audit_count(1)
    issued = [json.loads(l) for l in lines if "KeyIssued" in l]
    assert issued, "no KeyIssued record"
    assert key.decode() not in "".join(lines)
    assert daemon.cli("audit", "verify", str(daemon.audit)).returncode == 0


def test_rotate_keeps_the_previous_key_until_its_expiry(daemon):
    assert keys(daemon, "issue", "--agent", "claims_agent", "--user", str(NONROOT)).returncode == 0
    old = key_of(daemon)
    r = keys(daemon, "rotate", "--agent", "claims_agent", "--user", str(NONROOT), "--grace-seconds", "3")
    assert r.returncode == 0, r.stdout + r.stderr
    new = key_of(daemon)
    assert new != old
    assert daemon.token_as(NONROOT, key=new, action_risk_score=10) == "ALLOW"
    assert daemon.token_as(NONROOT, key=old, action_risk_score=10) == "ALLOW"
    # Past its expiry the daemon drops it by itself (no restart, no signal).
    deadline = time.monotonic() + 20
    while daemon.token(key=old, action_risk_score=10) != "DENY_TAMPERED_TOKEN":
        assert time.monotonic() < deadline, "the previous key is still accepted after its expiry"
        time.sleep(0.5)
    assert daemon.token_as(NONROOT, key=new, action_risk_score=10) == "ALLOW"
    rotated = [json.loads(l) for l in daemon.audit_lines() if "KeyRotated" in l]
    assert rotated and "previous_valid_until" in json.dumps(rotated[-1])


def test_refusals(daemon):
    r = keys(daemon, "issue", "--agent", "ghost_agent", "--user", str(NONROOT))
    assert r.returncode == 1 and "not in the running policy" in r.stdout
    r = keys(daemon, "rotate", "--agent", "stream_agent", "--user", str(NONROOT))
    assert r.returncode == 1 and "no key of its own" in r.stdout
    r = daemon.cli("keys", "issue", "--agent", "claims_agent", "--user", str(NONROOT), "--state-dir", "/nonexistent")
    assert r.returncode == 2 and "cannot reach the daemon" in r.stdout
    r = daemon.cli("keys", "issue", "--agent", "claims_agent")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
