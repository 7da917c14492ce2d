"""The upstream inside `jinnguard agent run` (the gateway's default): a locked agent that still serves the
MCP client over the gateway's pipes, whose denied calls never reach it, and which has no network."""

import os
import sys
from pathlib import Path

import pytest

from test_mcp_gateway import MCP_POLICY, UPSTREAM, gateway_args, run, text_of, upstream_calls

SH_UPSTREAM = Path(__file__).resolve().parent / "mcp_sh_upstream.sh"

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
from mcp import StdioServerParameters  # noqa: E402
from mcp.client.client import Client  # noqa: E402
from e2e_helpers import JINNGUARD_BIN  # noqa: E402


def test_locked_upstream_serves_allowed_calls_and_never_sees_denied_ones(daemon_factory):
    d = daemon_factory(policy=MCP_POLICY)
    state = d.sockdir / "state"
    # A server that needs nothing outside the system directories (this host's Python lives below /root,
    # which the locked agent's uid cannot traverse); shown read-only inside, logging into its workspace.
    args = gateway_args(d, confined=True, extra=["--locked-upstream", "--state-dir", str(state), "--upstream-read-only", str(SH_UPSTREAM)])
    params = StdioServerParameters(command=JINNGUARD_BIN, args=args + ["--", "/bin/sh", str(SH_UPSTREAM)], env=dict(os.environ))

    async def session():
        async with Client(params) as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            ok = await c.call_tool("lookup_weather", {"city": "Kyiv"})
            denied = await c.call_tool("delete_everything", {"path": "/"})
            return names, ok, denied

    names, ok, denied = run(session())
    assert names == ["lookup_weather"]
    assert text_of(ok) == "ran lookup_weather"
    assert denied.is_error and text_of(denied).startswith("DENY_INTENT_NOT_ALLOWED")
    logs = list(state.glob("workspace/*mcp_agent*/upstream.log")) + list(state.glob("workspace/*/upstream.log"))
    assert logs, sorted(str(p) for p in state.glob("workspace/*"))
    assert [c["tool"] for c in upstream_calls(logs[0])] == ["lookup_weather"]
