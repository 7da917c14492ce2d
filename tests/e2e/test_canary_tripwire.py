"""Canaries catch access, not spelling: a glob, a change of case or shell quotes around a canary name are
caught by the request-text check (after shell quote removal), and an access the text cannot show (a name
built at run time) trips the decoy planted in the agent's workspace: the kernel plane sees the open, the
audit log records it, and that agent's following requests get DENY_CANARY_TRIPWIRE — other agents' don't."""

import json
import os
import re
import time
from pathlib import Path

import pytest

from e2e_helpers import CANARY, DEFAULT_POLICY, NONROOT, Daemon, send_as, token_of
from jinnguard import parse_reply

POLICY = DEFAULT_POLICY + """\
  - id: tool_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 5, output_bytes: 4096}
    invariants: []
  - id: other_tool
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 5, output_bytes: 4096}
    invariants: []
  - id: spell_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 5, output_bytes: 4096}
    invariants: []
"""


@pytest.fixture(scope="module")
def cd(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("canary"), policy=POLICY)
    d.start()
    yield d
    d.stop(check=True)
    d.cleanup()


def shell(d, agent, command):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=True,
                     proposed_action={"kind": "shell_command", "command": command})
    return send_as(NONROOT, d.socket, [fr])[0]


def tracepoint_active(d):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in d.audit_lines():
            if "KernelPlanes" in line:
                text = line[line.index('"planes":') + len('"planes":'):]
                planes, _ = json.JSONDecoder().raw_decode(text)
                return planes.get("tracepoint", {}).get("active") is True
        time.sleep(0.1)
    return False


def tripwire_records(d, agent):
    return [l for l in d.audit_lines() if "CanaryTripwire" in l and agent in l and CANARY in l]


@pytest.mark.parametrize("command", [f"cat {CANARY[:-2]}?f", f"cat {CANARY[:5]}*", f"cat {CANARY.upper()}",
                                     f"cat {CANARY[:-2]}''{CANARY[-2:]}", f'cat "{CANARY[:6]}"{CANARY[6:]}',
                                     f"cat {CANARY[:-1]}\\{CANARY[-1]}", f"cat ./Canary_Decoy_A9[0-9]f"])
def test_spellings_of_a_canary_are_caught(cd, command):
    """Each spelling is caught: by the text check at once, or else by the tripwire on the next request."""
    tok = token_of(shell(cd, "spell_agent", command))
    if tok != "DENY_CANARY_TRIPWIRE":
        deadline = time.monotonic() + 10
        while not tripwire_records(cd, "spell_agent") and time.monotonic() < deadline:
            time.sleep(0.1)
        nxt = token_of(shell(cd, "spell_agent", "echo hello"))
        assert nxt == "DENY_CANARY_TRIPWIRE", (command, tok, nxt)
        pytest.fail(f"{command!r} was answered {tok}; only the tripwire caught it afterwards")


def test_decoy_is_planted_in_the_workspace(cd):
    r = parse_reply(shell(cd, "other_tool", "ls -a"))
    assert r.allowed and r.result and r.result.get("executed"), r
    assert CANARY in r.result["stdout"].split(), r.result


def test_open_of_the_decoy_trips_the_agent_only(cd):
    if not tracepoint_active(cd):
        pytest.skip("the kernel tracepoint plane is not active here: no open telemetry")
    # Warm-up: both agents are allowed.
    assert parse_reply(shell(cd, "tool_agent", "echo ok")).allowed
    assert parse_reply(shell(cd, "other_tool", "echo ok")).allowed
    # The name is built at run time: no text check can see it.
    r = parse_reply(shell(cd, "tool_agent", f"cat $(echo {CANARY[:-2]}X{CANARY[-2:]} | tr -d X)"))
    assert r.allowed and r.result and r.result.get("executed"), r
    deadline = time.monotonic() + 10
    while not tripwire_records(cd, "tool_agent") and time.monotonic() < deadline:
        time.sleep(0.1)
    recs = tripwire_records(cd, "tool_agent")
    assert recs, "no CanaryTripwire record in the audit log:\n" + cd.output_text(40)
    # The tripped agent's next requests are denied, whatever they ask.
    assert token_of(shell(cd, "tool_agent", "echo hello")) == "DENY_CANARY_TRIPWIRE"
    assert cd.token(agent="tool_agent", intent="run_tool") == "DENY_CANARY_TRIPWIRE"
    # Another agent is not affected.
    r = parse_reply(shell(cd, "other_tool", "echo hello"))
    assert r.allowed and r.result["stdout"] == "hello\n", r
