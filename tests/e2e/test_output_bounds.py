"""A tool's output is bounded at the source: never more than the agent's limit, never a reply frame over
the 4 MiB contract limit after JSON escaping, truncation reported (issue 11, item 3)."""

import json

import pytest

from e2e_helpers import ALLOWED, DEFAULT_POLICY, MAX_BODY, NONROOT, Daemon, send_as, token_of
from jinnguard import parse_reply

POLICY = DEFAULT_POLICY + """\
  - id: loud_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 30, output_bytes: 8388608}
    invariants: []
  - id: small_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 30, output_bytes: 1000}
    invariants: []
"""

ONES = "head -c 1048576 /dev/zero | tr '\\0' '\\1'"


@pytest.fixture(scope="module")
def loud(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("loud"), policy=POLICY)
    d.start()
    yield d
    d.stop(check=True)
    d.cleanup()


def execute(d, agent, command):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=True,
                     proposed_action={"kind": "shell_command", "command": command})
    return send_as(NONROOT, d.socket, [fr], timeout=40)[0]


def test_escaped_output_never_exceeds_the_frame_limit(loud):
    body = execute(loud, "loud_agent", f"{ONES}; {ONES} >&2; echo tail")
    assert body is not None and len(body) <= MAX_BODY, None if body is None else len(body)
    r = parse_reply(body)
    assert r.token in ALLOWED, body[:200]
    res = r.result
    assert res["executed"] is True and res["exit_code"] == 0, {k: v for k, v in res.items() if k not in ("stdout", "stderr")}
    assert res.get("stdout_truncated") is True and res.get("stderr_truncated") is True, sorted(res)
    assert set(res["stdout"]) <= {"\x01"} and set(res["stderr"]) <= {"\x01"}
    # The link survived: every agent is still served.
    assert loud.token(agent="claims_agent", intent="read_customer_record") in ALLOWED


def test_output_capped_at_the_agent_limit_and_reported(loud):
    body = execute(loud, "small_agent", "head -c 5000 /dev/zero | tr '\\0' x; head -c 10 /dev/zero | tr '\\0' y >&2")
    r = parse_reply(body)
    assert r.token in ALLOWED, body
    assert r.result["stdout"] == "x" * 1000 and r.result.get("stdout_truncated") is True, r.result
    assert r.result["stderr"] == "y" * 10 and "stderr_truncated" not in r.result, r.result


def test_output_within_the_limit_is_not_marked(loud):
    body = execute(loud, "small_agent", "echo hi")
    assert parse_reply(body).result == {"executed": True, "exit_code": 0, "stderr": "", "stdout": "hi\n"}, body
