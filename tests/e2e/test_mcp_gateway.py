"""`jinnguard mcp` (docs/mcp.md) with real MCP peers: the official `mcp` package's client and an
MCPServer upstream (mcp_upstream.py, which logs every call it receives), over stdio and Streamable HTTP,
against the real daemon."""

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e_helpers import DEFAULT_POLICY, JINNGUARD_BIN, free_port

mcp = pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
import httpx2  # noqa: E402  (mcp's HTTP client)
from mcp import StdioServerParameters  # noqa: E402
from mcp.client.client import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

UPSTREAM = str(Path(__file__).resolve().parent / "mcp_upstream.py")

MCP_POLICY = DEFAULT_POLICY + """\
  - id: mcp_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [lookup_weather, http_fetch, slow_task]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
    tool_limits: {workspace_mb: 8}
  - id: mcp_payer
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [pay]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: ["amount_usd <= 100"]
    tool_limits: {workspace_mb: 8}
"""


def canonical(v) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def upstream_calls(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def mcp_records(d, kind=None) -> list[dict]:
    out = []
    for line in d.audit_lines():
        e = json.loads(line)
        k = e["intent"].get("action_kind", "")
        if k.startswith("mcp_") and (kind is None or k == kind):
            out.append(e)
    return out


def wait_records(d, kind, n, timeout=10.0) -> list[dict]:
    end = time.monotonic() + timeout
    while True:
        r = mcp_records(d, kind)
        if len(r) >= n or time.monotonic() > end:
            return r
        time.sleep(0.05)


def gateway_args(d, agent="mcp_agent", extra=(), confined=False):
    """The gateway's options. Unless `confined`, with the opt-out --unconfined-upstream: these tests read the
    upstream's log at a host path (test_mcp_confined_default.py covers the confined default)."""
    return ["mcp", "--agent", agent, "--socket", str(d.socket), "--secret-file", str(d.secret_file),
            "--policy-file", str(d.policy), "--server-name", "weather", *([] if confined else ["--unconfined-upstream"]), *extra]


def stdio_params(d, log: Path, agent="mcp_agent", extra=(), upstream=True):
    args = gateway_args(d, agent, extra)
    if upstream:
        args += ["--", sys.executable, UPSTREAM]
    return StdioServerParameters(command=JINNGUARD_BIN, args=args, env={**os.environ, "MCP_UPSTREAM_LOG": str(log)})


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def text_of(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


@pytest.fixture
def mcp_daemon(daemon_factory):
    return daemon_factory(policy=MCP_POLICY)


def test_list_filtered_allowed_call_forwarded_denied_call_never_reaches_upstream(mcp_daemon, tmp_path):
    d, log = mcp_daemon, tmp_path / "upstream.log"

    async def session():
        async with Client(stdio_params(d, log)) as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            ok = await c.call_tool("lookup_weather", {"city": "Paris"})
            denied = await c.call_tool("delete_everything", {"path": "/"})
            return names, ok, denied

    names, ok, denied = run(session())
    # The upstream offers five tools; the agent's allowed_intents admit three.
    assert names == ["http_fetch", "lookup_weather", "slow_task"]
    assert not ok.is_error and text_of(ok) == "sunny in Paris"
    assert denied.is_error
    assert text_of(denied).startswith("DENY_INTENT_NOT_ALLOWED")
    calls = upstream_calls(log)
    assert [c["tool"] for c in calls] == ["lookup_weather"], calls

    # The audit chain holds the server, the tool and the digests, never the raw arguments.
    recs = wait_records(d, "mcp_tool_call", 2)
    by_tool = {r["intent"]["mcp_tool"]: r for r in recs}
    allowed, refused = by_tool["lookup_weather"], by_tool["delete_everything"]
    assert allowed["intent"]["mcp_server"] == "weather"
    assert allowed["intent"]["arguments_digest"] == sha(canonical({"city": "Paris"}))
    assert refused["decision"]["verdict"] == "DENY_INTENT_NOT_ALLOWED"
    assert all("Paris" not in line for line in d.audit_lines())
    results = wait_records(d, "mcp_tool_result", 1)
    assert len(results) == 1
    res = results[0]["intent"]
    assert res["mcp_tool"] == "lookup_weather"
    assert res["arguments_digest"] == allowed["intent"]["arguments_digest"]
    assert len(res["result_digest"]) == 64


def test_constrain_redacts_and_caps_the_result(daemon_factory, tmp_path):
    # http_fetch classifies as network (65): CONSTRAIN with redaction under the default ceiling of 90.
    policy = MCP_POLICY.replace("    tool_limits: {workspace_mb: 8}\n  - id: mcp_payer",
                                "    tool_limits: {workspace_mb: 8, output_bytes: 64}\n  - id: mcp_payer")
    d, log = daemon_factory(policy=policy), tmp_path / "upstream.log"

    async def session():
        async with Client(stdio_params(d, log)) as c:
            return await c.call_tool("http_fetch", {"url": "x", "size": 5000})

    r = run(session())
    assert not r.is_error
    t = text_of(r)
    assert "hunter2" not in t and "[REDACTED]" in t
    meta = r.meta["io.jinnguard/constraints"]
    assert meta["redact_output"] is True and meta["truncated"] is True
    assert len(t.encode()) <= meta["output_byte_limit"] < 5000
    assert upstream_calls(log)[0]["tool"] == "http_fetch"
    call = wait_records(d, "mcp_tool_call", 1)[0]
    assert call["decision"]["verdict"] == "CONSTRAIN"


def test_invariant_on_a_named_argument(mcp_daemon, tmp_path):
    d, log = mcp_daemon, tmp_path / "upstream.log"

    async def session():
        async with Client(stdio_params(d, log, agent="mcp_payer")) as c:
            small = await c.call_tool("pay", {"amount_usd": 50, "payee": "bob"})
            big = await c.call_tool("pay", {"amount_usd": 500, "payee": "bob"})
            return small, big

    small, big = run(session())
    assert not small.is_error and "paid 50" in text_of(small)
    assert big.is_error and text_of(big).startswith("DENY_VIOLATION")
    assert [c["args"]["amount_usd"] for c in upstream_calls(log)] == [50]


def test_daemon_unreachable_fails_closed(tmp_path):
    log = tmp_path / "upstream.log"
    policy = tmp_path / "policy.yaml"
    policy.write_text(MCP_POLICY)
    secret = tmp_path / "secret"
    secret.write_text("k" * 32)
    args = ["mcp", "--agent", "mcp_agent", "--unconfined-upstream", "--socket", str(tmp_path / "nobody-here.sock"), "--secret-file", str(secret),
            "--policy-file", str(policy), "--", sys.executable, UPSTREAM]
    params = StdioServerParameters(command=JINNGUARD_BIN, args=args, env={**os.environ, "MCP_UPSTREAM_LOG": str(log)})

    async def session():
        async with Client(params) as c:
            return await c.call_tool("lookup_weather", {"city": "Paris"})

    r = run(session())
    assert r.is_error and text_of(r).startswith("DENY_GATEWAY_DAEMON_UNREACHABLE")
    assert upstream_calls(log) == []


def test_cancellation_is_passed_upstream_and_audited(mcp_daemon, tmp_path):
    d, log = mcp_daemon, tmp_path / "upstream.log"

    async def session():
        async with Client(stdio_params(d, log)) as c:
            with pytest.raises((TimeoutError, asyncio.TimeoutError)):
                await asyncio.wait_for(c.call_tool("slow_task", {"seconds": 30}), 1.5)
            # The session goes on after the cancellation.
            return await c.call_tool("lookup_weather", {"city": "Oslo"})

    after = run(session())
    assert text_of(after) == "sunny in Oslo"
    end = time.monotonic() + 10
    while "slow_task_cancelled" not in [c["tool"] for c in upstream_calls(log)] and time.monotonic() < end:
        time.sleep(0.05)
    assert "slow_task_cancelled" in [c["tool"] for c in upstream_calls(log)]
    cancels = wait_records(d, "mcp_tool_cancel", 1)
    assert len(cancels) == 1 and cancels[0]["intent"]["mcp_tool"] == "slow_task"
    assert cancels[0]["intent"]["arguments_digest"] == sha(canonical({"seconds": 30}))


class HTTPGateway:
    def __init__(self, d, log: Path, tmp: Path, upstream_url=None):
        self.port = free_port()
        self.token_file = tmp / "token"
        args = [JINNGUARD_BIN, *gateway_args(d), "--listen", f"127.0.0.1:{self.port}", "--token-file", str(self.token_file)]
        self.token_file.unlink(missing_ok=True)
        args += ["--upstream-url", upstream_url] if upstream_url else ["--", sys.executable, UPSTREAM]
        self.proc = subprocess.Popen(args, env={**os.environ, "MCP_UPSTREAM_LOG": str(log)},
                                     stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        end = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(self.url, method="GET"), timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                assert self.proc.poll() is None, self.proc.stderr.read().decode()
                assert time.monotonic() < end, "gateway did not listen"
                time.sleep(0.05)
        self.token = self.token_file.read_text().strip()

    def status(self, headers: dict, body=b'{"jsonrpc":"2.0","method":"notifications/initialized"}') -> int:
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
        try:
            return urllib.request.urlopen(req, timeout=5).status
        except urllib.error.HTTPError as e:
            return e.code

    def client(self):
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        return Client(streamable_http_client(self.url, http_client=http))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def http_gateway(mcp_daemon, tmp_path):
    made = []

    def make(log, upstream_url=None):
        g = HTTPGateway(mcp_daemon, log, tmp_path, upstream_url)
        made.append(g)
        return g

    yield make
    for g in made:
        g.stop()


def test_streamable_http_listener_filters_forwards_and_denies(mcp_daemon, http_gateway, tmp_path):
    d, log = mcp_daemon, tmp_path / "upstream.log"
    g = http_gateway(log)
    # Access: the bearer token, the listener's own Host, and no foreign Origin.
    assert g.status({}) == 401
    assert g.status({"Authorization": "Bearer wrong-token-wrong-token"}) == 401
    assert g.status({"Authorization": f"Bearer {g.token}", "Origin": "http://evil.example"}) == 403
    assert g.status({"Authorization": f"Bearer {g.token}", "Host": "evil.example"}) == 403
    assert g.status({"Authorization": f"Bearer {g.token}", "Origin": f"http://127.0.0.1:{g.port}"}) == 202

    async def session():
        async with g.client() as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            ok = await c.call_tool("lookup_weather", {"city": "Rome"})
            denied = await c.call_tool("delete_everything", {"path": "/"})
            return names, ok, denied

    names, ok, denied = run(session())
    assert names == ["http_fetch", "lookup_weather", "slow_task"]
    assert text_of(ok) == "sunny in Rome"
    assert denied.is_error and text_of(denied).startswith("DENY_INTENT_NOT_ALLOWED")
    assert [c["tool"] for c in upstream_calls(log)] == ["lookup_weather"]


def test_http_upstream_by_url(mcp_daemon, tmp_path):
    d, log = mcp_daemon, tmp_path / "upstream.log"
    port = free_port()
    up = subprocess.Popen([sys.executable, UPSTREAM, "http", str(port)], env={**os.environ, "MCP_UPSTREAM_LOG": str(log)},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/mcp", timeout=1)
            except urllib.error.HTTPError:
                break
            except OSError:
                assert time.monotonic() < end, "upstream did not listen"
                time.sleep(0.1)
        params = StdioServerParameters(command=JINNGUARD_BIN,
                                       args=gateway_args(d, extra=["--upstream-url", f"http://127.0.0.1:{port}/mcp"]))

        async def session():
            async with Client(params) as c:
                names = sorted(t.name for t in (await c.list_tools()).tools)
                ok = await c.call_tool("lookup_weather", {"city": "Lima"})
                denied = await c.call_tool("delete_everything", {"path": "/"})
                return names, ok, denied

        names, ok, denied = run(session())
        assert names == ["http_fetch", "lookup_weather", "slow_task"]
        assert text_of(ok) == "sunny in Lima"
        assert denied.is_error and text_of(denied).startswith("DENY_INTENT_NOT_ALLOWED")
        assert [c["tool"] for c in upstream_calls(log)] == ["lookup_weather"]
    finally:
        up.terminate()
        up.wait(10)
