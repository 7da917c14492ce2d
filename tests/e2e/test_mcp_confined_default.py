"""The upstream MCP server runs confined by default (`jinnguard mcp` without --unconfined-upstream starts it
through `jinnguard agent run`, JGSandbox's one builder): a Python MCPServer whose interpreter lives below a
directory the agent's uid may not search (this host's pyenv under /root, 0700) still starts and serves its
tools, as the agent's tool uid, in its workspace; it cannot write outside that workspace, and it cannot
reach the host's network."""

import os
import socket
import sys
from pathlib import Path

import pytest

from test_mcp_gateway import MCP_POLICY, gateway_args, run, text_of

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
from mcp import StdioServerParameters  # noqa: E402
from mcp.client.client import Client  # noqa: E402
from e2e_helpers import JINNGUARD_BIN  # noqa: E402

CONFINED = str(Path(__file__).resolve().parent / "mcp_confined_upstream.py")
POLICY = MCP_POLICY.replace("allowed_intents: [lookup_weather, http_fetch, slow_task]",
                            "allowed_intents: [lookup_weather, write_file, connect, whoami]")


def test_python_upstream_confined_by_default_serves_tools_but_cannot_write_out_or_connect(daemon_factory, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the locked upstream's agent uid and cgroup need a root gateway")
    d = daemon_factory(policy=POLICY)
    state = d.sockdir / "state"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    outside = Path(CONFINED).parent / "jg-confined-escape.txt"
    host_tmp = tmp_path / "escape.txt"
    etc = Path("/etc/jg-confined-escape")
    for left in (outside, etc):  # left by a run where the upstream was not confined
        left.unlink(missing_ok=True)
    # No --locked-upstream, no --upstream-read-only: the default.
    args = gateway_args(d, confined=True, extra=["--state-dir", str(state)]) + ["--", sys.executable, CONFINED]
    params = StdioServerParameters(command=JINNGUARD_BIN, args=args, env=dict(os.environ))

    async def session():
        async with Client(params) as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            res = {"names": names}
            for key, tool, a in [("weather", "lookup_weather", {"city": "Nice"}), ("who", "whoami", {}),
                                 ("ws", "write_file", {"path": "in-workspace.txt"}),
                                 ("beside_script", "write_file", {"path": str(outside)}),
                                 ("etc", "write_file", {"path": str(etc)}),
                                 ("host_tmp", "write_file", {"path": str(host_tmp)}),
                                 ("net", "connect", {"port": port})]:
                r = await c.call_tool(tool, a)
                assert not r.is_error, (tool, text_of(r))
                res[key] = text_of(r)
            return res

    try:
        res = run(session())
        accepted = []
        try:
            accepted.append(listener.accept())
        except (socket.timeout, BlockingIOError):
            pass
    finally:
        listener.close()
    assert res["names"] == ["connect", "lookup_weather", "whoami", "write_file"]
    assert res["weather"] == "sunny in Nice"
    who = dict(kv.split("=", 1) for kv in res["who"].split())
    assert who["uid"] != "0", res["who"]
    assert who["python"] == sys.executable
    # Its workspace is the broker's workspace of the agent, on the host too.
    assert res["ws"].startswith("wrote "), res["ws"]
    written = list(state.glob("workspace/*/in-workspace.txt"))
    assert written and written[0].read_text() == "x", sorted(map(str, state.glob("workspace/*")))
    # Outside it nothing is writable: the script's directory and /etc are read-only, /tmp is its own.
    # (A clone under /tmp has its script directory inside the view's own /tmp: a write there may succeed, but
    # it lands in that private tmpfs — the host file is still checked below.)
    if not str(outside).startswith("/tmp/"):
        assert res["beside_script"].startswith("blocked"), res["beside_script"]
    assert res["etc"].startswith("blocked"), res["etc"]
    assert not outside.exists() and not etc.exists()
    assert not host_tmp.exists(), res["host_tmp"]
    # No network but its own loopback: the host's listener is never reached.
    assert res["net"].startswith("blocked"), res["net"]
    assert not accepted
