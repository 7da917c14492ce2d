"""Messages that try to slip a tools/call past the gateway's decision, sent as raw JSON-RPC lines to the
real gateway in front of the real MCPServer upstream (which logs every call it runs)."""

import json
import os
import subprocess
import sys
import time

from pathlib import Path

import pytest

from e2e_helpers import JINNGUARD_BIN
from test_mcp_gateway import MCP_POLICY, UPSTREAM, gateway_args, upstream_calls

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")

LENIENT = str(Path(__file__).resolve().parent / "mcp_lenient_upstream.py")
META = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}


@pytest.mark.parametrize("upstream", [UPSTREAM, LENIENT], ids=["mcpserver", "lenient"])
def test_tools_call_without_a_usable_id_never_reaches_the_upstream(daemon_factory, tmp_path, upstream):
    d, log = daemon_factory(policy=MCP_POLICY), tmp_path / "upstream.log"
    p = subprocess.Popen([JINNGUARD_BIN, *gateway_args(d), "--", sys.executable, upstream], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "MCP_UPSTREAM_LOG": str(log)})
    try:
        def send(msg):
            p.stdin.write((json.dumps(msg) + "\n").encode())
            p.stdin.flush()

        send({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": META})
        assert json.loads(p.stdout.readline())["id"] == 1
        # delete_everything is not an allowed intent; every spelling of the call without a proper id is refused.
        args = {"name": "delete_everything", "arguments": {"path": "/"}, **META}
        for bad_id in (None, {"x": 1}, [1], True):
            send({"jsonrpc": "2.0", "id": bad_id, "method": "tools/call", "params": args})
        send({"jsonrpc": "2.0", "method": "tools/call", "params": args})
        # A proper call afterwards proves the session still works and flushes the pipe.
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "lookup_weather", "arguments": {"city": "Oslo"}, **META}})
        end = time.monotonic() + 20
        while True:
            r = json.loads(p.stdout.readline())
            if r.get("id") == 2:
                break
            assert time.monotonic() < end
        assert r["result"]["content"][0]["text"] == "sunny in Oslo"
        time.sleep(0.5)
        assert [c["tool"] for c in upstream_calls(log)] == ["lookup_weather"], upstream_calls(log)
    finally:
        p.stdin.close()
        p.wait(10)
