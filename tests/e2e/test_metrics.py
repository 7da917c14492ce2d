"""GET /metrics and /healthz."""

import time

from e2e_helpers import NONROOT


def poll_increase(d, keys, before, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        now = d.metrics()
        if all(now.get(k, 0) > before.get(k, 0) for k in keys) or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def test_metrics_counters_increase(daemon):
    keys = ["jinnguard_proposals_total", 'jinnguard_decisions_total{verdict="allow"}',
            'jinnguard_denials_total{reason="DENY_TAMPERED_TOKEN"}',
            'jinnguard_decisions_total{verdict="deny"}']
    status, text = daemon.http("/metrics")
    assert status == 200
    assert "jinnguard_proposals_total" in text
    before = daemon.metrics()
    assert daemon.token_as(NONROOT, action_risk_score=10) == "ALLOW"
    assert daemon.token(key=b"forged") == "DENY_TAMPERED_TOKEN"
    now = poll_increase(daemon, keys, before)
    for k in keys:
        assert now.get(k, 0) > before.get(k, 0), f"{k}: {before.get(k)} -> {now.get(k)}"
    assert now["jinnguard_proposals_total"] - before.get("jinnguard_proposals_total", 0) >= 2


def test_metrics_count_requests_not_connections(daemon):
    before = daemon.metrics().get("jinnguard_proposals_total", 0)
    for _ in range(5):
        s = __import__("e2e_helpers").connect(daemon.socket)
        s.close()
    from e2e_helpers import tokens_as
    frames = [daemon.frame_for(action_risk_score=10) for _ in range(3)]
    assert tokens_as(NONROOT, daemon.socket, frames, same_connection=True) == ["ALLOW"] * 3
    deadline = time.monotonic() + 3
    while True:
        now = daemon.metrics().get("jinnguard_proposals_total", 0)
        if now - before >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert now - before == 3, f"proposals_total went {before} -> {now} for 3 requests on 1 connection + 5 empty"


def test_healthz_all_up(daemon):
    status, body = daemon.http("/healthz")
    assert status == 200, body


def test_metrics_only_on_loopback(daemon):
    import socket
    # find a non-loopback address of this host, if any
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))
        addr = s.getsockname()[0]
        s.close()
    except OSError:
        return
    if addr.startswith("127."):
        return
    c = socket.socket()
    c.settimeout(2)
    try:
        c.connect((addr, daemon.port))
        connected = True
    except OSError:
        connected = False
    finally:
        c.close()
    assert not connected, f"metrics port reachable on {addr}"
