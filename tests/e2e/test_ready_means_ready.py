"""Ready means ready (issue 14): a harness that connects as soon as the socket exists is answered by a
fully linked daemon, and /metrics read right after a burst counts every decision already answered."""

import os
import subprocess
import threading
import time

from e2e_helpers import ALLOWED, Daemon, stop_all, token_of, exchange


def test_first_request_as_soon_as_the_socket_exists_is_decided(tmp_path):
    d = Daemon(tmp_path)
    try:
        # Started by hand: no waiting for the "ready" line, as the original validation harness did.
        d.proc = subprocess.Popen(d.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True, errors="replace", env=d.env(),
                                  cwd=str(d.root))
        d._reader_thread = threading.Thread(target=d._reader, args=(d.proc.stdout,), daemon=True)
        d._reader_thread.start()
        while not os.path.exists(d.socket):
            assert d.proc.poll() is None, "daemon exited:\n" + d.output_text()
            time.sleep(0.001)
        tok = token_of(exchange(d.socket, d.frame_for(action_risk_score=10), timeout=30))
        assert tok in ALLOWED, f"first request got {tok}\n" + d.output_text()
    finally:
        stop_all([d])


def test_metrics_count_every_answered_decision(daemon):
    allow = deny = 0
    for i in range(12):
        if i % 3 == 2:
            tok = daemon.token(intent="wipe_database")
        else:
            tok = daemon.token(action_risk_score=10)
        if tok in ALLOWED:
            allow += 1
        else:
            deny += 1
    # Read at once: every reply above has been received, so every decision must be counted.
    m = daemon.metrics()
    got = sum(m.get(f'jinnguard_decisions_total{{verdict="{v}"}}', 0) for v in ("allow", "constrain", "deny"))
    assert (got, m.get("jinnguard_proposals_total")) == (12, 12), m
    assert m.get('jinnguard_decisions_total{verdict="deny"}') == deny
