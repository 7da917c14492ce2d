"""One agent cannot starve the audit log (issue 11 item 5, workspace side): each agent's workspace has a
size limit of its own (policy tool_limits.workspace_mb), kept apart from the audit log's file system, and
the tool's private /tmp is bounded too."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import DEFAULT_POLICY, JINNGUARD_BIN, NONROOT, send_as
from jinnguard import parse_reply

POLICY = DEFAULT_POLICY + """\
  - id: filler
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 30, workspace_mb: 16, file_size_mb: 1024, memory_mb: 1024}
    invariants: []
  - id: neighbour
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 10}
    invariants: []
"""


def send(d, agent, command):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=True,
                     proposed_action={"kind": "shell_command", "command": command})
    return parse_reply(send_as(NONROOT, d.socket, [fr])[0])


def workspace(d, agent):
    m = re.search(r"^jinnguard: ready.*\bworkspace=(\S+)", d.output_since(0), re.M)
    return Path(m.group(1)) / agent


def test_a_tool_cannot_write_past_its_workspace_limit(daemon_factory):
    d = daemon_factory(policy=POLICY)
    r = send(d, "filler", "head -c 67108864 /dev/zero > big; echo rc=$?; ls -l big")
    assert r.allowed and r.result["executed"], r
    out = r.result["stdout"] + r.result["stderr"]
    assert "No space left on device" in out or "Disk quota exceeded" in out, r
    assert "rc=0" not in out, r
    size = (workspace(d, "filler") / "big").stat().st_size
    assert size < 16 << 20, size
    # the workspace's space is reserved up front (a preallocated image, not a sparse one that would take
    # the host's space as the tool writes). ext4's lazy inode-table initialisation zeroes through the loop
    # device, which may give back a few hundred KiB of the image's blocks (seen: 31,768 of 32,768 sectors).
    image = workspace(d, "filler").parent.parent / "workspace-images" / "filler.img"
    assert image.stat().st_blocks * 512 >= 15 << 20, image.stat()
    # the neighbour and the audit log are untouched
    r = send(d, "neighbour", "echo fine > f.txt; cat f.txt")
    assert r.allowed and r.result["stdout"] == "fine\n", r
    assert d.token() in ("ALLOW", "CONSTRAIN")
    v = subprocess.run([JINNGUARD_BIN, "audit", "verify", str(d.audit)], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr
    executions = [json.loads(l)["decision"] for l in d.audit_lines() if json.loads(l)["intent"].get("class") == "Execution"]
    assert len(executions) >= 2 and all(e["verdict"] == "EXECUTED" for e in executions), executions


def test_the_private_tmp_is_bounded(daemon_factory):
    d = daemon_factory(policy=POLICY)
    r = send(d, "filler", "head -c 536870912 /dev/zero > /tmp/big; echo rc=$?")
    assert r.allowed and r.result["executed"], r
    out = r.result["stdout"] + r.result["stderr"]
    assert "No space left on device" in out and "rc=0" not in out, r


def test_the_limit_survives_a_restart(daemon_factory):
    d = daemon_factory(policy=POLICY)
    r = send(d, "filler", "head -c 4194304 /dev/zero > keep; echo rc=$?")
    assert "rc=0" in r.result["stdout"], r
    d.restart()
    r = send(d, "filler", "ls -l keep; head -c 67108864 /dev/zero > more; echo rc=$?")
    assert "keep" in r.result["stdout"] and "rc=0" not in r.result["stdout"], r


def test_an_agent_whose_workspace_cannot_be_prepared_is_refused(daemon_factory):
    """Fail closed: a workspace image that is not an image (here a directory in its place) cannot be
    mounted; that agent's runs are refused with DENY_SANDBOX_UNAVAILABLE, the others run, health says
    degraded."""
    d = daemon_factory(policy=POLICY, start=False)
    images = d.sockdir / "state" / "workspace-images"
    images.mkdir(parents=True)
    (images / "filler.img").mkdir()
    d.start()
    r = send(d, "filler", "echo ran > ran.txt")
    assert r.token == "DENY_SANDBOX_UNAVAILABLE", r
    last = [json.loads(l)["decision"] for l in d.audit_lines() if json.loads(l)["intent"].get("class") == "Execution"][-1]
    assert last["verdict"] == "NOT_EXECUTED" and "workspace unavailable" in last["error"], last
    r = send(d, "neighbour", "echo fine")
    assert r.allowed and r.result["stdout"] == "fine\n", r
    status, text = d.http("/healthz")
    assert status == 200 and any("filler" in x and "workspace" in x for x in json.loads(text)["details"]["degraded"]), text
