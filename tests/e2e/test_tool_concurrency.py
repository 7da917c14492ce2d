"""One agent's tool runs never stall the broker for the others; concurrency is bounded by the policy,
and the reply to an execution always matches what happened (issue 11, items 1 and 2)."""

import json
import threading
import time
from pathlib import Path

import pytest

from e2e_helpers import ALLOWED, DEFAULT_POLICY, NONROOT, Daemon, send_as, token_of
from jinnguard import parse_reply

SLOW_POLICY = DEFAULT_POLICY + """\
  - id: slow_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 60, max_concurrent_runs: 1}
    invariants: []
  - id: busy_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 60}
    invariants: []
"""


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("slow"), policy=SLOW_POLICY)
    d.start()
    yield d
    d.stop(check=True)
    d.cleanup()


def execute(d, agent, command, timeout=40.0, seq=None):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=True, seq=seq,
                     proposed_action={"kind": "shell_command", "command": command})
    return send_as(NONROOT, d.socket, [fr], timeout=timeout)[0]


def decided(d, seq):
    """The decision of the request with this sequence counter is in the chain."""
    return any(e["intent"].get("sequence_counter") == seq and e["intent"].get("class") != "Execution"
               for e in audit_entries(d))


def in_background(fn, *args):
    out = {}

    def run():
        try:
            out["body"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def workspace_of(d, agent):
    import re
    m = re.search(r"^jinnguard: ready.*\bworkspace=(\S+)", d.output_since(0), re.M)
    return Path(m.group(1)) / agent


def wait_for(pred, limit=20.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def audit_entries(d):
    return [json.loads(l) for l in d.audit_lines()]


def test_plain_decisions_go_on_while_a_tool_runs(slow):
    ws = workspace_of(slow, "busy_agent")
    marker = "started-" + str(slow.seq())
    t, out = in_background(execute, slow, "busy_agent", f"touch {marker}; sleep 6; echo done")
    assert wait_for(lambda: (ws / marker).exists()), "the tool never started"
    # While the tool sleeps, other agents' plain reads are decided normally (on the old broker they
    # waited for the tool and got DENY_COMPONENT_UNAVAILABLE from the gate after 3 s).
    tokens = []
    while t.is_alive() and len(tokens) < 40:
        tokens.append(slow.token(agent="claims_agent", intent="read_customer_record"))
    t.join(40)
    assert "error" not in out, out
    assert tokens and all(tok in ALLOWED for tok in tokens), tokens
    r = parse_reply(out["body"])
    assert r.allowed and r.result == {"executed": True, "exit_code": 0, "stderr": "", "stdout": "done\n"}, out["body"]


def test_runs_of_one_agent_are_bounded_and_never_overlap(slow):
    ws = workspace_of(slow, "slow_agent")
    log = f"runs-{slow.seq()}.log"
    cmd = f"echo start >> {log}; sleep 5; echo end >> {log}"
    first, o1 = in_background(execute, slow, "slow_agent", cmd)
    assert wait_for(lambda: (ws / log).exists()), "the first run never started"
    more = []
    for _ in range(3):
        # One at a time into the gate, so that the sequence counters arrive in order.
        seq = slow.seq()
        more.append(in_background(execute, slow, "slow_agent", cmd, 40.0, seq))
        assert wait_for(lambda: decided(slow, seq)), f"request {seq} was never decided"
    for t, _ in [(first, o1)] + more:
        t.join(60)
    bodies = [o1.get("body")] + [o.get("body") for _, o in more]
    tokens = [token_of(b) for b in bodies]
    # max_concurrent_runs 1: one runs, one waits in the agent's queue (bounded by the same number),
    # the rest are refused with a DENY_ token — never silently dropped.
    assert all(tok is not None for tok in tokens), tokens
    allowed = [b for b, tok in zip(bodies, tokens) if tok in ALLOWED]
    refused = [tok for tok in tokens if tok not in ALLOWED]
    assert len(allowed) >= 2 and refused and all(tok == "DENY_RUNTIME_POLICY" for tok in refused), tokens
    for b in allowed:
        assert parse_reply(b).result.get("exit_code") == 0, b
    lines = (ws / log).read_text().split()
    # Serialised: start, end, start, end … (two runs of this agent never overlapped).
    assert lines == ["start", "end"] * len(allowed), lines
    reasons = [e["decision"].get("reason", "") for e in audit_entries(slow)
               if e["decision"].get("verdict") == "DENY_RUNTIME_POLICY"]
    assert any("max_concurrent_runs" in r for r in reasons), reasons


@pytest.mark.slow
def test_reply_matches_outcome_for_a_run_longer_than_the_gate_waits(slow):
    ws = workspace_of(slow, "busy_agent")
    marker = f"ran-{slow.seq()}"
    started = time.monotonic()
    body = execute(slow, "busy_agent", f"sleep 23; echo RAN > {marker}; echo RAN", timeout=90)
    tok = token_of(body)
    # Wait past the moment the command would have finished on its own.
    time.sleep(max(0.0, 26 - (time.monotonic() - started)))
    ran = (ws / marker).exists()
    if tok in ALLOWED:
        r = parse_reply(body)
        assert r.result and r.result.get("executed") is True, body
        if r.result.get("exit_code") == 0:
            assert ran and r.result.get("stdout") == "RAN\n", body
        else:
            assert not ran and "killed" in r.result.get("error", ""), body
    else:
        # Reported as refused: then it must never have run to the end.
        assert not ran, f"answered {tok} but the command ran to the end"
        executed_ok = [e for e in audit_entries(slow) if e["decision"].get("verdict") == "EXECUTED"
                       and e["decision"].get("exit_code") == 0 and e["observation"].get("agent_id") == "busy_agent"
                       and e["intent"].get("sequence_counter")]
        assert tok != "DENY_COMPONENT_UNAVAILABLE" or not ran, executed_ok


class _SlowHandler:
    """A loopback HTTP server that answers after a delay, released by the test."""

    def __init__(self):
        import http.server

        release = self.release = threading.Event()
        self.hit = threading.Event()
        hit = self.hit

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hit.set()
                release.wait(15)
                body = b"slow answer\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.srv.shutdown()


def test_decisions_go_on_during_a_slow_network_fetch(daemon_factory):
    srv = _SlowHandler()
    try:
        d = daemon_factory(policy=DEFAULT_POLICY + f"""\
  - id: net_agent
    privilege_tier: 1
    allowed_intents: [fetch_report]
    allowed_network_destinations: ["127.0.0.1:{srv.port}"]
    invariants: []
""")
        fr = d.frame_for(agent="net_agent", intent="fetch_report", execute=True,
                         proposed_action={"kind": "network_request", "method": "GET",
                                          "url": f"http://127.0.0.1:{srv.port}/slow"})
        t, out = in_background(lambda: send_as(NONROOT, d.socket, [fr], timeout=30)[0])
        assert srv.hit.wait(15), "the fetch never reached the server"
        # The server holds the answer: meanwhile other agents are decided (old broker: blocked in libcurl).
        tokens = [d.token(agent="claims_agent", intent="read_customer_record") for _ in range(5)]
        srv.release.set()
        t.join(30)
        assert all(tok in ALLOWED for tok in tokens), tokens
        r = parse_reply(out["body"])
        assert r.allowed and r.result["status"] == 200 and r.result["body"] == "slow answer\n", out["body"]
    finally:
        srv.close()


def test_total_bound_across_agents(daemon_factory):
    policy = "max_concurrent_tool_runs: 1\n" + DEFAULT_POLICY + "".join(f"""\
  - id: t{i}_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {{timeout_seconds: 60}}
    invariants: []
""" for i in range(3))
    d = daemon_factory(policy=policy)
    ws = workspace_of(d, "t0_agent")
    first, o0 = in_background(execute, d, "t0_agent", "touch begun; sleep 5; echo one")
    assert wait_for(lambda: (ws / "begun").exists()), "the first run never started"
    seq1 = d.seq()
    second, o1 = in_background(execute, d, "t1_agent", "echo two", 40.0, seq1)
    assert wait_for(lambda: decided(d, seq1)), "the second run was never decided"
    # One run in flight and one waiting, all agents together: the third is refused, whoever asks.
    third = execute(d, "t2_agent", "echo three")
    assert token_of(third) == "DENY_RUNTIME_POLICY", third
    first.join(40)
    second.join(40)
    assert parse_reply(o0["body"]).result["stdout"] == "one\n", o0
    assert parse_reply(o1["body"]).result["stdout"] == "two\n", o1
    reasons = [e["decision"].get("reason", "") for e in audit_entries(d) if e["decision"].get("verdict") == "DENY_RUNTIME_POLICY"]
    assert any("max_concurrent_tool_runs" in r for r in reasons), reasons
