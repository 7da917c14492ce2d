"""The gateway's result records never block the client's reply (DaemonDecider writes them and reads their
replies ahead of the next decision) and are never lost: a result the daemon could not record (it was
stopped while the upstream worked) makes the next call fail closed, and is written once the daemon is back,
before that next call is decided."""

import asyncio
import os
import sys
import time

import pytest

from test_mcp_gateway import MCP_POLICY, UPSTREAM, gateway_args, mcp_records, text_of, upstream_calls

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
from mcp import StdioServerParameters  # noqa: E402
from mcp.client.client import Client  # noqa: E402
from e2e_helpers import JINNGUARD_BIN  # noqa: E402


def test_result_record_unwritten_denies_next_call_and_is_written_when_daemon_returns(daemon_factory, tmp_path):
    d = daemon_factory(policy=MCP_POLICY)
    log = tmp_path / "upstream.log"
    args = gateway_args(d) + ["--", sys.executable, UPSTREAM]
    params = StdioServerParameters(command=JINNGUARD_BIN, args=args, env={**os.environ, "MCP_UPSTREAM_LOG": str(log)})

    async def session():
        async with Client(params) as c:
            slow = asyncio.create_task(c.call_tool("slow_task", {"seconds": 1.5}))
            # Forwarded (decided): the upstream has it. The daemon goes away before the result comes back.
            for _ in range(200):
                if any(x["tool"] == "slow_task" for x in upstream_calls(log)):
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(d.stop)
            done = await slow
            while_down = await c.call_tool("lookup_weather", {"city": "Oslo"})
            await asyncio.to_thread(d.start)
            after = await c.call_tool("lookup_weather", {"city": "Rome"})
            return done, while_down, after

    done, while_down, after = asyncio.run(asyncio.wait_for(session(), 90))
    assert not done.is_error and text_of(done) == "done"
    assert while_down.is_error and text_of(while_down).startswith("DENY_GATEWAY_RECORD_UNWRITTEN"), text_of(while_down)
    assert not after.is_error and text_of(after) == "sunny in Rome"
    assert [x["tool"] for x in upstream_calls(log)] == ["slow_task", "lookup_weather"]
    # The slow call's result record was written after the restart, ahead of the Rome call's decision.
    deadline = time.monotonic() + 10
    while True:
        recs = [r for r in mcp_records(d) if r["intent"].get("mcp_tool") in ("slow_task", "lookup_weather")]
        kinds = [(r["intent"]["action_kind"], r["intent"]["mcp_tool"]) for r in recs]
        if ("mcp_tool_result", "lookup_weather") in kinds or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ("mcp_tool_result", "slow_task") in kinds, kinds
    i = kinds.index(("mcp_tool_result", "slow_task"))
    assert ("mcp_tool_call", "lookup_weather") in kinds[i:], kinds
