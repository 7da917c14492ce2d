"""A reply reaches only the client that asked (issue 10 item 2): a client that asks for an execution and
hangs up before the answer must not have its reply — the command's output — delivered to whichever
client the kernel gives the same descriptor number next. The hang-up drops the reply, never the audit
record of what ran."""

import json
import os
import socket
import time
from pathlib import Path

from e2e_helpers import DEFAULT_POLICY, connect, wait_closed

POLICY = DEFAULT_POLICY + """\
  - id: tool_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 10}
    invariants: []
"""


def test_reply_of_a_client_that_hung_up_reaches_no_other_client(daemon_factory):
    d = daemon_factory(policy=POLICY)
    marker = "routing-" + os.urandom(8).hex()
    seq = d.seq()
    fr = d.frame_for(agent="tool_agent", intent="run_tool", seq=seq, execute=True,
                     proposed_action={"kind": "shell_command", "command": f"sleep 2; echo {marker}"})
    asker = connect(d.socket)
    asker.sendall(fr)
    # Let the gate take the request in, then hang up while the tool runs.
    time.sleep(0.5)
    asker.close()
    time.sleep(0.3)
    # Clients that connect next (and send nothing) get the lowest free descriptor numbers in the gate,
    # the one the asker had among them.
    others = [connect(d.socket, timeout=10) for _ in range(3)]
    got = []
    for s in others:
        data, _closed = wait_closed(s, 8.0)
        got.append(data)
        s.close()
    leaked = [g for g in got if g]
    assert not leaked, f"a client that sent nothing received another client's reply: {leaked[0][:200]!r}"
    # The run is still on record: its decision and its outcome.
    deadline = time.monotonic() + 10
    while True:
        entries = [json.loads(l) for l in Path(d.audit).read_text().splitlines() if l.strip()]
        decision = [e for e in entries if e["intent"].get("sequence_counter") == seq
                    and e["observation"].get("agent_id") == "tool_agent" and e["intent"].get("class") != "Execution"]
        outcome = [e for e in entries if e["intent"].get("class") == "Execution"
                   and e["intent"].get("sequence_counter") == seq]
        if (decision and outcome) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert decision, "no audit record of the decision for the client that hung up"
    assert outcome and outcome[-1]["decision"]["verdict"] == "EXECUTED", outcome
