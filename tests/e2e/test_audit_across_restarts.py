"""Denials are audited across broker restarts (issue 11 item 6): while the broker is killed again and again,
every DENY a client receives — the gate's own denials and the DENY_COMPONENT_UNAVAILABLE of requests
caught by a kill — has its record in the chain once a broker is back (PROTOCOL.md §5: every decision from
step 3 on is audited)."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from e2e_helpers import NONROOT, Stream, pid_alive

KILLS = 4


def decisions(d):
    """(agent, sequence counter) -> verdicts recorded, for the decision records of the chain."""
    out = {}
    for l in Path(d.audit).read_text().splitlines():
        if not l.strip():
            continue
        e = json.loads(l)
        if e["intent"].get("class") in ("Execution", "Boot") or "verdict" not in e["decision"]:
            continue
        key = (e["observation"].get("agent_id"), e["intent"].get("sequence_counter"))
        out.setdefault(key, []).append(e["decision"]["verdict"])
    return out


@pytest.mark.slow
def test_every_denial_is_recorded_across_broker_kills(daemon):
    comps = daemon.wait_components()
    base = daemon.seq() + 1_000_000
    streams = {
        "stream_agent": Stream(NONROOT, daemon.socket, daemon.secret, "stream_agent", "read_customer_record",
                               base, interval=0.005),
        # quota 3 per lineage session: after three decisions every request is the gate's own denial
        "quota_agent": Stream(NONROOT, daemon.socket, daemon.secret, "quota_agent", "read_customer_record",
                              base, interval=0.005),
    }
    records = {}
    try:
        time.sleep(1.0)
        for _ in range(KILLS):
            victim = daemon.wait_components()["jg-broker"]
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while True:
                now = daemon.components().get("jg-broker")
                if now and now != victim:
                    break
                assert time.monotonic() < deadline, "jg-broker not restarted\n" + daemon.output_text()
                time.sleep(0.02)
            # some traffic against the fresh broker before the next kill
            time.sleep(0.6)
        time.sleep(1.0)
    finally:
        for agent, s in streams.items():
            records[agent] = s.stop()
    denied = [(agent, r["seq"], r["token"]) for agent, rs in records.items() for r in rs
              if r["token"] and r["token"].startswith("DENY_")]
    total = sum(len(rs) for rs in records.values())
    assert total >= 200, f"only {total} requests were sent"
    assert any(t == "DENY_QUOTA_EXHAUSTED" for _, _, t in denied), "no gate denial was exercised"
    missing = denied
    deadline = time.monotonic() + 15
    while missing and time.monotonic() < deadline:
        rec = decisions(daemon)
        missing = [(a, s, t) for a, s, t in denied if t not in rec.get((a, s), [])]
        if missing:
            time.sleep(0.3)
    kinds = sorted({t for _, _, t in missing})
    assert not missing, (f"{len(missing)} of {len(denied)} denials that reached clients have no audit record "
                         f"({kinds}), e.g. {missing[:5]}")
    r = daemon.cli("audit", "verify", str(daemon.audit))
    assert r.returncode == 0, r.stdout + r.stderr


def test_held_records_are_bounded_and_then_requests_are_refused_at_once(daemon_factory):
    """While the broker confirms nothing (stopped), the gate holds at most its bound of records; past it a
    request is answered DENY_AUDIT_UNAVAILABLE at once, without a decision. Once the broker runs again,
    every denial that was held is in the chain and requests are decided normally."""
    import threading
    from e2e_helpers import exchange, token_of
    bound = 12
    d = daemon_factory(env={"JINNGUARD_GATE_HELD_RECORDS": str(bound)})
    broker = d.wait_components()["jg-broker"]
    seqs = [d.seq() for _ in range(3 * bound)]
    frames = [d.frame_for(agent="nobody_agent", seq=s) for s in seqs]
    got = [None] * len(frames)
    os.kill(broker, signal.SIGSTOP)
    try:
        def one(i):
            got[i] = token_of(exchange(d.socket, frames[i], timeout=20))
        threads = []
        for i in range(len(frames)):
            t = threading.Thread(target=one, args=(i,))
            t.start()
            threads.append(t)
            time.sleep(0.02)
        for t in threads:
            t.join(30)
    finally:
        os.kill(broker, signal.SIGCONT)
    refused = [t for t in got if t == "DENY_AUDIT_UNAVAILABLE"]
    denied = [i for i, t in enumerate(got) if t == "DENY_UNKNOWN_AGENT_ID"]
    assert refused, f"no request was refused past the bound of {bound} held records: {got}"
    assert 0 < len(denied) <= bound, got
    # the broker confirms what was held; then requests are decided again
    deadline = time.monotonic() + 10
    tok = d.token()
    while tok != "ALLOW" and time.monotonic() < deadline:
        time.sleep(0.2)
        tok = d.token()
    assert tok == "ALLOW", tok
    # every DENY_UNKNOWN_AGENT_ID a client received is recorded
    deadline = time.monotonic() + 10
    while True:
        rec = decisions(d)
        missing = [seqs[i] for i in denied if "DENY_UNKNOWN_AGENT_ID" not in rec.get(("nobody_agent", seqs[i]), [])]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"{len(missing)} of {len(denied)} denials answered without a record"
