"""`jinnguard policy replay --policy NEW AUDIT_LOG` over an audit log the real daemon wrote."""

from e2e_helpers import DEFAULT_POLICY


def test_replay_names_the_decisions_a_new_policy_changes(daemon):
    assert daemon.token(intent="read_customer_record", action_risk_score=10) == "ALLOW"
    assert daemon.token(intent="summarize_claim", action_risk_score=10) == "ALLOW"
    assert daemon.token(intent="drop_tables") == "DENY_INTENT_NOT_ALLOWED"
    assert daemon.token(intent="read_customer_record", action_risk_score=95) == "DENY_RISK_CEILING_EXCEEDED"
    daemon.wait_audit_count(len(daemon.audit_lines()))
    # Same policy: nothing changes.
    same = daemon.cli("policy", "replay", "--policy", str(daemon.policy), str(daemon.audit))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "0 of 4 replayable decisions would change" in same.stdout
    # summarize_claim dropped, drop_tables admitted, the ceiling raised to 99.
    new = daemon.root / "new.yaml"
    new.write_text(DEFAULT_POLICY.replace("global_safety_ceiling: 90.0", "global_safety_ceiling: 99.0").replace(
        "allowed_intents: [read_customer_record, summarize_claim, list_claims]",
        "allowed_intents: [read_customer_record, list_claims, drop_tables]"))
    r = daemon.cli("policy", "replay", "--policy", str(new), str(daemon.audit))
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "claims_agent summarize_claim: ALLOW -> DENY_INTENT_NOT_ALLOWED" in out
    assert "claims_agent drop_tables: DENY_INTENT_NOT_ALLOWED -> " in out
    assert "claims_agent read_customer_record: DENY_RISK_CEILING_EXCEEDED -> CONSTRAIN" in out
    assert "3 of 4 replayable decisions would change" in out
