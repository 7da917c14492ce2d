"""Shadow mode (`mode: shadow`, docs/mcp.md): the policy's verdicts are computed and audited as the verdict
that would have been given, the action proceeds, and /metrics counts would-deny per reason — over the real
daemon, through the MCP gateway with the official `mcp` client, and on the socket for the rules that never
relax."""

import json
import time

import pytest

from e2e_helpers import DEFAULT_POLICY
from test_mcp_gateway import canonical, run, sha, stdio_params, text_of, upstream_calls, wait_records

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
from mcp.client.client import Client  # noqa: E402

SHADOW_POLICY = DEFAULT_POLICY + """\
  - id: mcp_agent
    privilege_tier: 1
    mode: shadow
    allowed_peer_uids: []
    allowed_intents: [lookup_weather, http_fetch]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
    tool_limits: {workspace_mb: 8}
    require_approval: {intents: [http_fetch]}
"""


def test_shadow_lets_the_denied_call_through_and_audits_it_as_would_deny(daemon_factory, tmp_path):
    d, log = daemon_factory(policy=SHADOW_POLICY), tmp_path / "upstream.log"

    async def session():
        async with Client(stdio_params(d, log)) as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            r = await c.call_tool("delete_everything", {"path": "/tmp/y"})
            held = await c.call_tool("http_fetch", {"url": "u"})
            return names, r, held

    names, r, held = run(session())
    # In shadow nothing is hidden: the agent sees what it would be refused.
    assert "delete_everything" in names
    assert not r.is_error and text_of(r) == "deleted /tmp/y"
    assert not held.is_error, "a would-be hold does not wait in shadow mode"
    assert [c["tool"] for c in upstream_calls(log)] == ["delete_everything", "http_fetch"]
    recs = {e["intent"]["mcp_tool"]: e for e in wait_records(d, "mcp_tool_call", 2)}
    dec = recs["delete_everything"]["decision"]
    assert dec["mode"] == "shadow"
    assert dec["would_be_verdict"] == "DENY_INTENT_NOT_ALLOWED"
    assert dec["verdict"] in ("ALLOW", "CONSTRAIN")
    assert recs["delete_everything"]["intent"]["arguments_digest"] == sha(canonical({"path": "/tmp/y"}))
    assert recs["http_fetch"]["decision"]["would_be_verdict"] == "DENY_HOLD_PENDING_REVIEW"
    end = time.monotonic() + 10
    while True:
        m = d.metrics()
        if m.get('jinnguard_shadow_would_deny_total{reason="DENY_INTENT_NOT_ALLOWED"}') == 1 or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert m.get('jinnguard_shadow_would_deny_total{reason="DENY_INTENT_NOT_ALLOWED"}') == 1, \
        {k: v for k, v in m.items() if "shadow" in k}
    assert m.get('jinnguard_shadow_would_deny_total{reason="DENY_HOLD_PENDING_REVIEW"}') == 1


def test_shadow_never_relaxes_hard_rules_or_authentication(daemon_factory):
    d = daemon_factory(policy=SHADOW_POLICY)
    # A broker hard rule (destructive command) stays a denial in shadow mode.
    assert d.token(agent="mcp_agent", intent="lookup_weather",
                   proposed_action={"kind": "shell_command", "command": "rm -rf /"}, execute=True) == "DENY_VIOLATION"
    # So does a bad signature.
    assert d.token(agent="mcp_agent", intent="lookup_weather", key=b"not-the-key") == "DENY_TAMPERED_TOKEN"
    # And a replayed counter.
    seq = d.seq() + 10
    assert d.token(agent="mcp_agent", intent="lookup_weather", seq=seq) in ("ALLOW", "CONSTRAIN")
    assert d.token(agent="mcp_agent", intent="lookup_weather", seq=seq) == "DENY_REPLAY_ATTACK"
    last = json.loads(d.audit_lines()[-1])
    assert last["decision"]["verdict"] == "DENY_REPLAY_ATTACK"
