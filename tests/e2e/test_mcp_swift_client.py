"""`jinnguard mcp` driven by the official MCP Swift SDK's client (modelcontextprotocol/swift-sdk): the
test-only package tests/swift-mcp-client (kept out of the product's Package.swift) lists the tools and calls
an allowed and a denied tool through the gateway, in front of the Python MCPServer upstream."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_mcp_gateway import MCP_POLICY, UPSTREAM, gateway_args, upstream_calls
from e2e_helpers import JINNGUARD_BIN

PKG = Path(__file__).resolve().parent.parent / "swift-mcp-client"
pytest.importorskip("mcp", reason="the upstream is an MCPServer of the official mcp package")


@pytest.fixture(scope="module")
def swift_client() -> Path:
    swift = shutil.which("swift") or "/opt/swift/usr/bin/swift"
    if not os.path.exists(swift):
        pytest.skip("no Swift toolchain to build the MCP Swift SDK client")
    # First build with its dependencies (swift-sdk, swift-log, swift-system): about 40 s on 2 cores.
    r = subprocess.run([swift, "build", "--package-path", str(PKG)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exe = PKG / ".build" / "debug" / "jg-mcp-swift-client"
    assert exe.exists()
    return exe


def test_swift_sdk_client_lists_filtered_tools_and_gets_allowed_result_and_denial(swift_client, daemon_factory, tmp_path):
    d = daemon_factory(policy=MCP_POLICY)
    log = tmp_path / "upstream.log"
    args = gateway_args(d) + ["--", sys.executable, UPSTREAM]
    r = subprocess.run([str(swift_client), 'lookup_weather={"city":"Lyon"}', 'delete_everything={"path":"/"}', "--",
                        JINNGUARD_BIN, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "MCP_UPSTREAM_LOG": str(log)})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert sorted(out["tools"]) == ["http_fetch", "lookup_weather", "slow_task"]
    ok, denied = out["calls"]
    assert ok == {"tool": "lookup_weather", "isError": False, "text": "sunny in Lyon"}
    assert denied["isError"] is True and denied["text"].startswith("DENY_INTENT_NOT_ALLOWED"), denied
    assert [c["tool"] for c in upstream_calls(log)] == ["lookup_weather"]
