"""docs/mcp.md's Claude Desktop example, run as written (paths replaced by a test daemon's) with the
official `mcp` client: the documented command line really starts the gateway and governs the calls."""

import json
import os
import sys
import re
from pathlib import Path

import pytest

from e2e_helpers import JINNGUARD_BIN
from test_mcp_gateway import run, text_of
from test_mcp_approval import policy as approval_policy

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
from mcp import StdioServerParameters  # noqa: E402
from mcp.client.client import Client  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "mcp.md"


def doc_example() -> dict:
    block = re.search(r"```json\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/mcp.md has no JSON example"
    return json.loads(block.group(1))["mcpServers"]["weather"]


def test_docs_example_runs(daemon_factory):
    policy = approval_policy().replace("id: mcp_agent", "id: desktop_agent")
    d = daemon_factory(policy=policy)
    entry = doc_example()
    subst = {"/usr/local/bin/jinnguard": JINNGUARD_BIN,
             "/path/to/jinnguard-state/jinnguard.sock": str(d.socket),
             "/path/to/agent-secret": str(d.secret_file),
             "/path/to/jinnguard-state/policy.yaml": str(d.policy),
             "/path/to/jinnguard-state": str(d.sockdir / "state"),
             "/path/to/python3": sys.executable,
             "/path/to/docs/": str(REPO / "docs") + "/"}

    def fill(s):
        for k, v in subst.items():
            s = s.replace(k, v)
        return s

    assert all("/path/to" not in fill(a) for a in entry["args"]), entry
    params = StdioServerParameters(command=fill(entry["command"]), args=[fill(a) for a in entry["args"]],
                                   env=dict(os.environ))

    async def session():
        async with Client(params) as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            return names, await c.call_tool("lookup_weather", {"city": "Bern"})

    names, r = run(session())
    assert names == ["delete_everything", "lookup_weather"]
    assert text_of(r) == "sunny in Bern"
