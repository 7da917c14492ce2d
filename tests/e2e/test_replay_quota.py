"""Replay and quota state that cannot be turned against agents or fail open."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from e2e_helpers import ALLOWED, DEFAULT_POLICY, NONROOT, policy_with, send_as, token_of, tokens_as

I63 = 2**63 - 1


def state_dir(d):
    return str(d.sockdir / "state")


def test_counter_above_2_63_is_malformed_and_locks_nobody_out(daemon):
    assert daemon.token(seq=2**64 - 1) == "DENY_MALFORMED_PAYLOAD"
    assert daemon.token(seq=2**63) == "DENY_MALFORMED_PAYLOAD"
    # The agent is not locked out: an ordinary counter is still accepted.
    assert daemon.token() in ALLOWED
    # The original SDK's time-based counters (about 1.8e18) stay accepted.
    sdk = int(time.time() * 1e9)
    assert sdk > 1.7e18
    assert daemon.token(seq=sdk) in ALLOWED
    assert daemon.token(seq=I63) in ALLOWED


def test_reset_counter_on_a_running_daemon_is_audited(daemon):
    assert daemon.token(seq=I63) in ALLOWED          # the highest counter there is: the agent is stuck
    low = daemon.seq()
    assert daemon.token(seq=low) == "DENY_REPLAY_ATTACK"
    r = daemon.cli("agent", "reset-counter", "claims_agent", "--state-dir", state_dir(daemon))
    assert r.returncode == 0, r.stdout + r.stderr
    assert daemon.token(seq=low) in ALLOWED
    assert daemon.token(seq=low) == "DENY_REPLAY_ATTACK"   # replay protection is back at once
    recs = [json.loads(l) for l in daemon.audit_lines() if "CounterReset" in l]
    assert recs and "claims_agent" in json.dumps(recs[-1]), daemon.audit_lines()[-3:]
    # The reset survives a restart (it is in the journal), and so does the new counter.
    daemon.restart()
    assert daemon.token(seq=low) == "DENY_REPLAY_ATTACK"
    assert daemon.token(seq=low + 1) in ALLOWED
    # Unknown agents and non-root callers are refused.
    r = daemon.cli("agent", "reset-counter", "no_such_agent", "--state-dir", state_dir(daemon))
    assert r.returncode != 0
    r = subprocess.run([daemon.argv()[0], "agent", "reset-counter", "claims_agent", "--state-dir", state_dir(daemon)],
                       capture_output=True, text=True, user=NONROOT, group=NONROOT, extra_groups=[], cwd="/")
    assert r.returncode != 0, r.stdout
    assert daemon.token(seq=low) == "DENY_REPLAY_ATTACK"


def test_quota_counts_per_agent_across_processes(daemon_factory):
    d = daemon_factory(policy=policy_with(**{"max_sequence_quota: 3": "max_sequence_quota: 5"}))
    allowed = 0
    for _ in range(10):  # ten processes, five requests each
        frames = [d.frame_for(agent="quota_agent", intent="read_customer_record") for _ in range(5)]
        allowed += sum(t in ALLOWED for t in tokens_as(NONROOT, d.socket, frames))
    assert allowed == 5


def _mount_tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr)


def test_journal_write_failure_denies(daemon_factory, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small file system")
    mnt = tmp_path / "small"
    _mount_tmpfs(mnt, "256k")
    try:
        d = daemon_factory(start=False)
        d.lineage = mnt / "lineage.state"
        d.start()
        assert d.token() in ALLOWED
        # Fill the file system. A line still fits in the journal's last page; once a line needs a new
        # page the write fails, and from then on every request must be denied.
        subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/fill", "bs=4k"], capture_output=True)
        toks, seqs = [], []
        for _ in range(400):
            s = d.seq()
            seqs.append(s)
            toks.append(d.token(seq=s))
            if toks[-1] == "DENY_AUDIT_UNAVAILABLE" and len(toks) - toks.index("DENY_AUDIT_UNAVAILABLE") >= 3:
                break
        assert "DENY_AUDIT_UNAVAILABLE" in toks, toks[-5:]
        first = toks.index("DENY_AUDIT_UNAVAILABLE")
        assert all(t == "DENY_AUDIT_UNAVAILABLE" for t in toks[first:]), toks[first:]
        recs = [l for l in d.audit_lines() if "lineage journal write failed" in l]
        assert len(recs) >= len(toks) - first, d.audit_lines()[-3:]
        last_allowed = max(s for s, t in zip(seqs, toks) if t in ALLOWED)
        # Room again: requests are decided as before, and no allowed counter was lost from the journal.
        os.unlink(mnt / "fill")
        assert d.token() in ALLOWED
        d.restart()
        assert d.token(seq=last_allowed) == "DENY_REPLAY_ATTACK"
        assert d.token() in ALLOWED
        d.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_journal_stays_bounded(daemon):
    d = daemon
    n = 4000
    frames = [d.frame_for(agent="stream_agent", intent="read_customer_record") for _ in range(n)]
    last = json.loads(json.loads(frames[-1][5:])["payload"])["sequence_counter"]
    toks = tokens_as(NONROOT, d.socket, frames, same_connection=True, timeout=10)
    assert sum(t in ALLOWED for t in toks) == n
    # Every line is at least 20 bytes: without compaction the journal would hold n of them.
    deadline = time.monotonic() + 10
    while d.lineage.stat().st_size > 100 * 1024 and time.monotonic() < deadline:
        time.sleep(0.1)
    size = d.lineage.stat().st_size
    lines = d.lineage.read_text().splitlines()
    assert len(lines) < n / 2, (size, len(lines))
    assert size <= 100 * 1024, size
    # The compacted journal still holds the counter, across a restart.
    d.restart()
    assert d.token(agent="stream_agent", seq=last) == "DENY_REPLAY_ATTACK"
    assert d.token(agent="stream_agent", seq=last + 1) in ALLOWED
