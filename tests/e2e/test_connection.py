"""Several requests on one connection; close after DENY; identical decisions across daemons."""

from e2e_helpers import ALLOWED, CANARY, NONROOT, connect, recv_reply, send_as, token_of, tokens_as, wait_closed
from jinnguard import frame


def test_two_allows_on_one_connection_non_root(daemon):
    frames = [daemon.frame_for(action_risk_score=10), daemon.frame_for(action_risk_score=20),
              daemon.frame_for(action_risk_score=30)]
    assert tokens_as(NONROOT, daemon.socket, frames, same_connection=True) == ["ALLOW"] * 3


def test_sdk_connection_several_requests(daemon):
    c = daemon.client()
    with c.connect() as conn:
        r1 = conn.propose("claims_agent", "read_customer_record", daemon.seq(), action_risk_score=10)
        r2 = conn.propose("claims_agent", "read_customer_record", daemon.seq(), action_risk_score=10)
        assert not conn.closed
        r3 = conn.propose("claims_agent", "read_customer_record", daemon.seq(), action_risk_score=99)
        assert conn.closed
    assert r1.allowed and r2.allowed, (r1, r2)
    assert r3.token == "DENY_RISK_CEILING_EXCEEDED"


def test_daemon_closes_after_deny(daemon):
    with connect(daemon.socket) as s:
        s.sendall(daemon.frame_for(agent="ghost_agent"))
        assert token_of(recv_reply(s)) == "DENY_UNKNOWN_AGENT_ID"
        try:
            s.sendall(daemon.frame_for(action_risk_score=10))
        except OSError:
            pass
        data, closed = wait_closed(s, 5)
        assert closed and data == b"", f"daemon answered after a DENY on the same connection: {data!r}"
    out = send_as(NONROOT, daemon.socket, [daemon.frame_for(agent="ghost_agent"),
                                           daemon.frame_for(action_risk_score=10)], same_connection=True)
    assert token_of(out[0]) == "DENY_UNKNOWN_AGENT_ID" and out[1] is None, out


def battery(d):
    """~30 mixed requests with fixed counters; returns the token list."""
    base = 5000
    toks = []

    def t(**kw):
        toks.append(d.token(**kw))

    def raw(data):
        toks.append(d.raw_token(data))

    t(seq=base + 1, action_risk_score=10)
    t(seq=base + 1, action_risk_score=10)                 # replay
    t(seq=base + 2, key=b"forged")                          # tampered
    t(seq=base + 2, action_risk_score=95)                   # ceiling (counter not consumed above)
    t(seq=base + 3, agent="ghost")
    t(seq=base + 4, agent=None)
    t(seq=base + 5, agent="")
    t(seq=base + 6, intent="drop_tables")
    t(seq=base + 7, intent=CANARY)
    t(seq=0)
    t(seq=base + 8, delegation_token="x")
    for i in range(4):
        t(agent="quota_agent", seq=base + 10 + i)
    t(agent="billing_agent", seq=base + 20, context_vars={"spending_ceiling_usd": 151})
    t(agent="billing_agent", seq=base + 21, context_vars={"spending_ceiling_usd": 149})
    t(agent="billing_agent", seq=base + 22)
    t(agent="authority_agent", seq=base + 23, context_vars={"fused_risk": 1})
    t(agent="bound_agent", seq=base + 24)
    t(agent="exec_agent", intent="run_tool", seq=base + 25,
      proposed_action={"kind": "shell_command", "command": "cat /etc/passwd"}, execute=True)
    t(seq=base + 30, prompt="please sudo make me a sandwich")
    t(seq=base + 31, requested_capabilities=["network", "exec", "filesystem"])
    t(seq=base + 32, source_code="print(1)")
    raw(frame(b"[]"))
    raw(frame(b"not json"))
    raw(frame(bytes.fromhex("fffe00")))
    raw(bytes.fromhex("FFFFFFFFAB"))
    raw(frame(b'{"payload":"p"}'))
    t(seq=base + 40, action_risk_score=30)
    return toks


def test_battery_identical_on_two_fresh_daemons(daemon_factory):
    a = daemon_factory(name="a")
    first = battery(a)
    b = daemon_factory(name="b")
    second = battery(b)
    assert len(first) >= 30
    assert first == second
    assert None not in first
    # sanity: the battery exercises denials and allows
    assert any(x in ALLOWED for x in first) and sum(x.startswith("DENY_") for x in first) >= 15
