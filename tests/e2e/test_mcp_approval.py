"""Human approval bound to the exact call (policy `require_approval`; docs/mcp.md): holds made by
jg-broker, decided with `jinnguard approve|reject`, over the real daemon — through the MCP gateway with
the official `mcp` client and MCPServer upstream, and over the agent socket directly."""

import asyncio
import json
import re
import threading
import time

import pytest

from e2e_helpers import DEFAULT_POLICY, envelope_bytes, frame, payload_str, recv_reply, connect, token_of
from test_mcp_gateway import canonical, run, stdio_params, text_of, upstream_calls

pytest.importorskip("mcp", reason="the official mcp package (scripts/install-deps.sh installs it)")
from mcp.client.client import Client  # noqa: E402

def policy(hold_seconds=60):
    return DEFAULT_POLICY + f"""\
  - id: mcp_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [lookup_weather, delete_everything]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
    tool_limits: {{workspace_mb: 8}}
    require_approval: {{intents: [delete_everything], hold_seconds: {hold_seconds}}}
  - id: other_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: [lookup_weather, delete_everything]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
    tool_limits: {{workspace_mb: 8}}
    require_approval: {{intents: [delete_everything], hold_seconds: {hold_seconds}}}
"""


HOLD_RE = re.compile(r"\((hold-[0-9a-f]+)\)")


def state_dir(d):
    return str(d.sockdir / "state")


def holds_in_audit(d) -> list[str]:
    out = []
    for line in d.audit_lines():
        e = json.loads(line)
        if e["decision"].get("verdict") == "DENY_HOLD_PENDING_REVIEW":
            m = HOLD_RE.search(e["decision"].get("reason", ""))
            if m and m.group(1) not in out:
                out.append(m.group(1))
    return out


def wait_hold(d, n=1, timeout=15.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        h = holds_in_audit(d)
        if len(h) >= n:
            return h[n - 1]
        time.sleep(0.05)
    raise AssertionError("no hold in the audit log:\n" + "\n".join(d.audit_lines()[-5:]))


def decide(d, verb, hold):
    return d.cli(verb, hold, "--state-dir", state_dir(d))


def held_call(d, log, verb=None, wait_seconds=None):
    """A delete_everything call through the gateway; `verb` (approve/reject) is run once the hold exists."""
    progress = []

    async def session():
        async with Client(stdio_params(d, log)) as c:
            call = asyncio.ensure_future(c.call_tool("delete_everything", {"path": "/tmp/x"},
                                                     progress_callback=lambda p, t, m: progress.append(m)))
            hold = await asyncio.get_running_loop().run_in_executor(None, wait_hold, d)
            assert upstream_calls(log) == [], "a held call reached the upstream"
            if verb:
                r = decide(d, verb, hold)
                assert r.returncode == 0, r.stdout + r.stderr
            return hold, await call

    hold, result = run(session(), timeout=60)
    return hold, result, progress


@pytest.fixture
def held_daemon(daemon_factory):
    return daemon_factory(policy=policy())


def test_held_call_completes_after_approve(held_daemon, tmp_path):
    d, log = held_daemon, tmp_path / "upstream.log"
    hold, r, progress = held_call(d, log, "approve")
    assert not r.is_error and text_of(r) == "deleted /tmp/x"
    assert [c["tool"] for c in upstream_calls(log)] == ["delete_everything"]
    assert any(hold in (m or "") for m in progress), progress
    # Approved once: a second approval of the same hold is refused.
    again = decide(d, "approve", hold)
    assert again.returncode == 1, again.stdout
    events = [json.loads(l) for l in d.audit_lines() if '"HoldApproved"' in l]
    assert len(events) == 1


def test_held_call_refused_after_reject(held_daemon, tmp_path):
    d, log = held_daemon, tmp_path / "upstream.log"
    hold, r, _ = held_call(d, log, "reject")
    assert r.is_error and text_of(r).startswith("DENY_HOLD_REJECTED")
    assert upstream_calls(log) == []


def test_held_call_refused_after_expiry(daemon_factory, tmp_path):
    d, log = daemon_factory(policy=policy(hold_seconds=1)), tmp_path / "upstream.log"
    hold, r, _ = held_call(d, log, None)
    assert r.is_error and text_of(r).startswith("DENY_HOLD_EXPIRED")
    assert upstream_calls(log) == []
    late = decide(d, "approve", hold)
    assert late.returncode == 1


# -- the agent socket: the hold is bound to agent, call and policy, and runs at most once -------------

def call_frame(d, agent, args: dict, seq) -> bytes:
    text = canonical(args)
    p = {"sequence_counter": seq, "agent_id": agent, "intent_name": "delete_everything", "plan": text,
         "proposed_action": {"kind": "mcp_tool_call", "url": "mcp://fs/delete_everything", "method": "delete_everything",
                             "contents": text}, "execute": False}
    return frame(envelope_bytes(payload_str(p), d.secret))


class Seq:
    def __init__(self):
        self.v = time.time_ns()

    def __call__(self):
        self.v += 1
        return self.v


def ask(d, agent, args, seq) -> tuple[str, str | None]:
    s = connect(d.socket)
    s.sendall(call_frame(d, agent, args, seq()))
    body = recv_reply(s)
    s.close()
    lines = (body or b"").decode().split("\n")
    return token_of(body), (lines[1] if len(lines) > 1 and lines[1] else None)


def race(d, call, seq) -> list:
    frames = [call_frame(d, "mcp_agent", call, seq()) for _ in range(2)]
    socks = [connect(d.socket) for _ in frames]
    tokens = [None, None]
    # Both frames are on their sockets before either reply is read, the lower counter first: two threads
    # behind a barrier sent them in either order, and a round whose higher counter won was a replay.
    socks[0].sendall(frames[0])
    socks[1].sendall(frames[1])

    def read(i):
        tokens[i] = token_of(recv_reply(socks[i]))

    ts = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    for s in socks:
        s.close()
    return tokens


def test_hold_bound_to_the_exact_call_agent_and_once(held_daemon):
    d, seq = held_daemon, Seq()
    call = {"path": "/srv/data"}
    tok, hold = ask(d, "mcp_agent", call, seq)
    assert tok == "DENY_HOLD_PENDING_REVIEW" and hold and hold.startswith("hold-")
    # Still waiting: the same call is told the same hold.
    assert ask(d, "mcp_agent", call, seq) == ("DENY_HOLD_PENDING_REVIEW", hold)
    assert decide(d, "approve", hold).returncode == 0
    # One byte changed, or another agent: not the approved call; held anew, never allowed.
    tok2, hold2 = ask(d, "mcp_agent", {"path": "/srv/datb"}, seq)
    assert tok2 == "DENY_HOLD_PENDING_REVIEW" and hold2 != hold
    tok3, hold3 = ask(d, "other_agent", call, seq)
    assert tok3 == "DENY_HOLD_PENDING_REVIEW" and hold3 not in (hold, hold2)
    # Two racing retries of the approved call: at most one goes ahead. (Their counters may arrive out of
    # order, and then one is a replay; rounds repeat until one round raced both into the broker.)
    raced = False
    for _ in range(6):
        tokens = race(d, call, seq)
        assert sum(t in ("ALLOW", "CONSTRAIN") for t in tokens) == 1, tokens
        if "DENY_REPLAY_ATTACK" not in tokens:
            assert "DENY_HOLD_PENDING_REVIEW" in tokens, tokens
            raced = True
            break
        # The allowed one consumed the hold: hold the call again and approve it for the next round.
        tok_r, hold_r = ask(d, "mcp_agent", call, seq)
        assert tok_r == "DENY_HOLD_PENDING_REVIEW"
        assert decide(d, "approve", hold_r).returncode == 0
    assert raced, "no round raced both retries into the broker"
    # A replayed approval: the consumed hold is gone.
    tok4, hold4 = ask(d, "mcp_agent", call, seq)
    assert tok4 == "DENY_HOLD_PENDING_REVIEW" and hold4 != hold
    assert decide(d, "approve", hold).returncode == 1


def test_hold_survives_a_restart(held_daemon):
    d, seq = held_daemon, Seq()
    call = {"path": "/srv/keep"}
    tok, hold = ask(d, "mcp_agent", call, seq)
    assert tok == "DENY_HOLD_PENDING_REVIEW"
    d.restart()
    assert decide(d, "approve", hold).returncode == 0
    d.restart()
    assert ask(d, "mcp_agent", call, seq)[0] in ("ALLOW", "CONSTRAIN")


def test_only_root_decides_holds(held_daemon):
    d, seq = held_daemon, Seq()
    tok, hold = ask(d, "mcp_agent", {"path": "/srv/x"}, seq)
    import subprocess
    r = subprocess.run(["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups", d.argv()[0], "approve", hold,
                        "--state-dir", state_dir(d)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert ask(d, "mcp_agent", {"path": "/srv/x"}, seq) == ("DENY_HOLD_PENDING_REVIEW", hold)


def test_held_call_over_streamable_http_completes_after_approve(held_daemon, tmp_path):
    """The same hold through the gateway's HTTP listener: the POST's event stream stays open (progress
    events) until the operator approves."""
    from test_mcp_gateway import HTTPGateway
    d, log = held_daemon, tmp_path / "upstream.log"
    g = HTTPGateway(d, log, tmp_path)
    try:
        progress = []

        async def session():
            async with g.client() as c:
                call = asyncio.ensure_future(c.call_tool("delete_everything", {"path": "/tmp/h"},
                                                         progress_callback=lambda p, t, m: progress.append(m)))
                hold = await asyncio.get_running_loop().run_in_executor(None, wait_hold, d)
                assert upstream_calls(log) == []
                r = decide(d, "approve", hold)
                assert r.returncode == 0, r.stdout + r.stderr
                return hold, await call

        hold, r = run(session(), timeout=60)
        assert not r.is_error and text_of(r) == "deleted /tmp/h"
        assert [c["tool"] for c in upstream_calls(log)] == ["delete_everything"]
        assert any(hold in (m or "") for m in progress), progress
    finally:
        g.stop()
