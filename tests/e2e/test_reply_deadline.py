"""The reply matches the outcome (issue 11 item 2): the gate waits for an execution as long as the agent's
tool limits let it run, so a tool that ran is reported with its result, never as refused."""

import json
import time
from pathlib import Path

import pytest

from e2e_helpers import DEFAULT_POLICY, NONROOT, send_as
from jinnguard import parse_reply

POLICY = DEFAULT_POLICY + """\
  - id: slow_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 60}
    invariants: []
"""


@pytest.mark.slow
def test_long_tool_within_its_limit_is_answered_with_its_result(daemon_factory):
    d = daemon_factory(policy=POLICY)
    seq = d.seq()
    fr = d.frame_for(agent="slow_agent", intent="run_tool", seq=seq, execute=True,
                     proposed_action={"kind": "shell_command", "command": "sleep 23; echo RAN"})
    body = send_as(NONROOT, d.socket, [fr], timeout=90)[0]
    assert body is not None, "connection closed without a reply"
    r = parse_reply(body)
    # What the audit says happened, for the message.
    outcome = None
    deadline = time.monotonic() + 5
    while outcome is None and time.monotonic() < deadline:
        for l in Path(d.audit).read_text().splitlines():
            e = json.loads(l)
            if e["intent"].get("class") == "Execution" and e["intent"].get("sequence_counter") == seq:
                outcome = e["decision"]
        time.sleep(0.1)
    assert r.allowed, f"answered {r.token} while the audit recorded {outcome}"
    assert r.result is not None and r.result.get("executed") is True, body
    assert r.result.get("exit_code") == 0 and r.result.get("stdout") == "RAN\n", body
    assert outcome is not None and outcome["verdict"] == "EXECUTED", outcome
