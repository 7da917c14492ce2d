"""decisions_seen (and so privilege_escalation_depth = is_root × decisions_seen) counts the decisions of
one lineage session — one process of the agent — as the original daemon's lineage registry did: the
example policy's `privilege_escalation_depth < 3` stops a root process at its third decision, and never
denies the agent's later runs for good (issue 14: the README's example failed from its fourth run on)."""

from e2e_helpers import policy_with, send_as, token_of

POLICY = policy_with(**{'''  - id: billing_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants:
      - "spending_ceiling_usd <= 150.00"''': '''  - id: billing_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants:
      - "spending_ceiling_usd <= 150.00"
      - "privilege_escalation_depth < 3"'''})


def test_root_runs_of_an_agent_each_start_a_session(daemon_factory):
    d = daemon_factory(policy=POLICY)
    ctx = {"context_vars": {"spending_ceiling_usd": 20}, "action_risk_score": 10}
    # Five runs of the agent as root, one request each: five sessions of depth 1.
    runs = [token_of(send_as(0, d.socket, [d.frame_for(agent="billing_agent", **ctx)])[0]) for _ in range(5)]
    assert runs == ["ALLOW"] * 5
    # One root process making four decisions: depth 1, 2, then 3 is denied.
    one = [token_of(b) for b in send_as(0, d.socket, [d.frame_for(agent="billing_agent", **ctx) for _ in range(4)])]
    assert one[:2] == ["ALLOW", "ALLOW"] and one[2] == "DENY_VIOLATION", one
