"""Every token of the PROTOCOL §5 table, from a crafted request."""

import pytest

from e2e_helpers import (ALLOWED, CANARY, NONROOT, envelope_bytes, payload_str, policy_with,
                         proposal, tokens_as)
from jinnguard import frame


def test_worked_outcomes_non_root(daemon):
    """§5 worked outcomes: ceiling 90, read_customer_record, non-root client."""
    frames = [daemon.frame_for(action_risk_score=r) for r in (10, 20, 30, 95)]
    assert tokens_as(NONROOT, daemon.socket, frames) == ["ALLOW", "ALLOW", "ALLOW",
                                                         "DENY_RISK_CEILING_EXCEEDED"]


def test_risk_over_ceiling_root(daemon):
    assert daemon.token(action_risk_score=95) == "DENY_RISK_CEILING_EXCEEDED"
    assert daemon.token(action_risk_score=100) == "DENY_RISK_CEILING_EXCEEDED"


def test_root_client_is_riskier_than_non_root(daemon):
    # +25 observed risk for uid 0 and nothing else (the peer is observed by the supervisor, which can see
    # it): 25 < 0.40*90 -> ALLOW, as the original answered; an ordinary user's observed risk is 0
    import json
    root_seq, user_seq = daemon.seq(), daemon.seq()
    assert daemon.token(action_risk_score=10, seq=root_seq) == "ALLOW"
    assert daemon.token_as(NONROOT, action_risk_score=10, seq=user_seq) == "ALLOW"
    observed = {}
    for line in daemon.wait_audit_count(3):
        e = json.loads(line)
        if e["intent"].get("sequence_counter") in (root_seq, user_seq):
            observed[e["intent"]["sequence_counter"]] = e["assessment"]["observed_risk"]
    assert observed == {root_seq: 25, user_seq: 0}, observed


def test_forged_signature(daemon):
    assert daemon.token(key=b"not-the-secret") == "DENY_TAMPERED_TOKEN"
    # a signature from the right key over a different payload
    p1 = payload_str(proposal("claims_agent", "read_customer_record", daemon.seq()))
    p2 = payload_str(proposal("claims_agent", "read_customer_record", daemon.seq()))
    from jinnguard import sign
    assert daemon.raw_token(frame(envelope_bytes(p2, daemon.secret, sign(daemon.secret, p1)))) == \
        "DENY_TAMPERED_TOKEN"


def test_unknown_agent(daemon):
    assert daemon.token(agent="ghost_agent") == "DENY_UNKNOWN_AGENT_ID"


@pytest.mark.parametrize("agent", [None, "", "   ", 5], ids=["missing", "empty", "blank", "number"])
def test_anonymous_agent(daemon, agent):
    if agent == 5:
        p = '{"intent_name":"read_customer_record","agent_id":5,"sequence_counter":%d}' % daemon.seq()
        tok = daemon.raw_token(frame(envelope_bytes(p, daemon.secret)))
        # "missing, empty or non-string = anonymous" (§3) although a known key of the wrong type is
        # malformed; either is a denial, the contract's own table says anonymous
        assert tok == "DENY_ANONYMOUS_AGENT_NOT_PERMITTED", tok
        return
    assert daemon.token(agent=agent) == "DENY_ANONYMOUS_AGENT_NOT_PERMITTED"


def test_agent_id_is_trimmed(daemon):
    assert daemon.token_as(NONROOT, agent="  claims_agent ", action_risk_score=10) == "ALLOW"


def test_intent_not_allowed(daemon):
    assert daemon.token(intent="delete_everything") == "DENY_INTENT_NOT_ALLOWED"
    assert daemon.token(intent=None) == "DENY_INTENT_NOT_ALLOWED"


def test_canary_in_intent(daemon):
    # canary (step 9) is checked before the intent allowlist (step 10)
    assert daemon.token(intent=f"read_{CANARY}") == "DENY_CANARY_TRIPWIRE"


def test_canary_in_action(daemon):
    action = {"kind": "file_write", "path": f"/tmp/{CANARY}.txt", "contents": "x"}
    assert daemon.token(agent="billing_agent", intent="summarize", proposed_action=action,
                        context_vars={"spending_ceiling_usd": 1}) == "DENY_CANARY_TRIPWIRE"
    action = {"kind": "shell_command", "command": f"echo {CANARY}"}
    assert daemon.token(agent="exec_agent", intent="run_echo", proposed_action=action) == \
        "DENY_CANARY_TRIPWIRE"


def test_replay_same_sequence_twice(daemon):
    s = daemon.seq()
    assert daemon.token(seq=s) in ALLOWED
    assert daemon.token(seq=s) == "DENY_REPLAY_ATTACK"
    assert daemon.token(seq=s - 1) == "DENY_REPLAY_ATTACK"
    assert daemon.token(seq=s + 1) in ALLOWED


def test_replay_zero_is_always_replay(daemon):
    assert daemon.token(agent="stream_agent", seq=0) == "DENY_REPLAY_ATTACK"


def test_replay_denials_do_not_advance_counter(daemon):
    s = daemon.seq()
    assert daemon.token(seq=s + 10, key=b"wrong") == "DENY_TAMPERED_TOKEN"
    assert daemon.token(seq=s) in ALLOWED


def test_replay_state_persists_across_restart(daemon):
    s = daemon.seq()
    assert daemon.token(seq=s) in ALLOWED
    daemon.restart()
    assert daemon.token(seq=s) == "DENY_REPLAY_ATTACK"
    assert daemon.token(seq=s + 1) in ALLOWED


def test_quota_exhausted_after_n(daemon):
    # many connections; quota 3
    toks = [daemon.token(agent="quota_agent", intent="read_customer_record") for _ in range(4)]
    assert all(t in ALLOWED for t in toks[:3]), toks
    assert toks[3] == "DENY_QUOTA_EXHAUSTED", toks
    # the quota is the agent's: another process gets no fresh one
    assert daemon.token_as(NONROOT, agent="quota_agent", action_risk_score=10) == "DENY_QUOTA_EXHAUSTED"


def test_quota_from_one_non_root_process(daemon):
    frames = [daemon.frame_for(agent="quota_agent", action_risk_score=10) for _ in range(4)]
    assert tokens_as(NONROOT, daemon.socket, frames) == ["ALLOW"] * 3 + ["DENY_QUOTA_EXHAUSTED"]


def test_invariant_violated(daemon):
    assert daemon.token(agent="billing_agent", context_vars={"spending_ceiling_usd": 200}) == \
        "DENY_VIOLATION"
    assert daemon.token(agent="billing_agent", context_vars={"spending_ceiling_usd": 150.01}) == \
        "DENY_VIOLATION"
    assert daemon.token(agent="billing_agent", context_vars={"spending_ceiling_usd": 150}) in ALLOWED
    assert daemon.token(agent="billing_agent", context_vars={"spending_ceiling_usd": 100}) in ALLOWED


def test_invariant_missing_variable_denies(daemon):
    assert daemon.token(agent="billing_agent") == "DENY_VIOLATION"
    assert daemon.token(agent="billing_agent", context_vars={"other": 1}) == "DENY_VIOLATION"


def test_daemon_authoritative_variable_cannot_be_overridden(daemon):
    # authority_agent: "fused_risk <= 40"; a declared action risk of 50 makes the fused risk 50, whatever
    # value of fused_risk the caller declares
    assert daemon.token(agent="authority_agent", action_risk_score=50, context_vars={"fused_risk": 0}) == "DENY_VIOLATION"
    assert daemon.token_as(NONROOT, agent="authority_agent", action_risk_score=10,
                           context_vars={"fused_risk": 0}) == "ALLOW"


def test_delegation_token_unsupported(daemon):
    assert daemon.token(delegation_token="eyJhbGciOi.fake.token") == "DENY_DELEGATION_UNSUPPORTED"


def test_identity_binding(daemon):
    # bound_agent: allowed_peer_uids [10001]
    assert daemon.token(agent="bound_agent") == "DENY_AGENT_IDENTITY_BINDING"
    assert daemon.token_as(NONROOT, agent="bound_agent", action_risk_score=10) == "ALLOW"
    assert daemon.token_as(10002, agent="bound_agent", action_risk_score=10) == \
        "DENY_AGENT_IDENTITY_BINDING"


def test_runtime_policy_deny_root_peers(daemon_factory):
    d = daemon_factory(policy=policy_with(**{"deny_root_peers: false": "deny_root_peers: true"}))
    assert d.token(action_risk_score=10) == "DENY_RUNTIME_POLICY"
    assert d.token_as(NONROOT, action_risk_score=10) == "ALLOW"


def test_interpreter_not_allowed(daemon):
    action = {"kind": "shell_command", "command": "cat /etc/hostname"}
    assert daemon.token(agent="exec_agent", intent="run_tool", proposed_action=action,
                        execute=True) == "DENY_INTERPRETER_NOT_ALLOWED"
    action = {"kind": "shell_command", "command": "/bin/echo hi"}
    tok = daemon.token(agent="exec_agent", intent="run_tool", proposed_action=action, execute=True)
    # a path to an allowed name is not the allowed name (or it is resolved): never silently
    # different from `echo`; report which
    assert tok in ("DENY_INTERPRETER_NOT_ALLOWED",) + ALLOWED, tok


def test_evaluation_order(daemon):
    """First failing check answers (§5 order)."""
    # unknown agent (6) before replay (8)
    assert daemon.token(agent="ghost_agent", seq=0) == "DENY_UNKNOWN_AGENT_ID"
    # replay (8) before canary (9)
    assert daemon.token(seq=0, intent=CANARY) == "DENY_REPLAY_ATTACK"
    # intent (10) before risk (16)
    assert daemon.token(intent="nope", action_risk_score=99) == "DENY_INTENT_NOT_ALLOWED"
    # invariant (15) before ceiling (16)
    assert daemon.token(agent="billing_agent", action_risk_score=99,
                        context_vars={"spending_ceiling_usd": 1000}) == "DENY_VIOLATION"
    # signature (3) before anonymous (5)
    assert daemon.token(agent=None, key=b"bad") == "DENY_TAMPERED_TOKEN"


def test_unknown_fields_ignored(daemon):
    assert daemon.token_as(NONROOT, action_risk_score=10, some_future_field={"a": [1, 2]}) == "ALLOW"
    body = daemon.frame_for()[5:]
    import json
    env = json.loads(body)
    env["extra_envelope_key"] = 1
    assert daemon.raw_token(frame(json.dumps(env, separators=(",", ":")).encode())) in ALLOWED
