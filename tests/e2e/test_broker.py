"""Brokered execution: shell_command and file_write with execute true."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from e2e_helpers import NONROOT, send_as
from jinnguard import parse_reply

ECHO_RESULT = {"executed": True, "exit_code": 0, "stderr": "", "stdout": "hello\n"}


def test_shell_echo_executed(daemon):
    fr = daemon.frame_for(agent="exec_agent", intent="run_echo",
                          proposed_action={"kind": "shell_command", "command": "echo hello"},
                          execute=True)
    body = send_as(NONROOT, daemon.socket, [fr])[0]
    assert body is not None
    r = parse_reply(body)
    if r.token == "ALLOW":
        assert body == b'SIGNAL: ALLOW\n{"executed":true,"exit_code":0,"stderr":"","stdout":"hello\\n"}\n'
    else:
        assert r.token == "CONSTRAIN", body
        assert r.result == ECHO_RESULT, body
        result_line = body.decode().split("\n")[2]
        assert result_line == json.dumps(ECHO_RESULT, separators=(",", ":"), sort_keys=True)


def test_shell_echo_from_root_executes_or_constrains(daemon):
    r = daemon.client().propose("exec_agent", "run_echo", daemon.seq(),
                                proposed_action={"kind": "shell_command", "command": "echo hello"},
                                execute=True)
    assert r.allowed, r
    assert r.result is not None and r.result.get("executed") is True, r
    assert r.result.get("exit_code") == 0, r


def test_not_executed_without_execute_flag(daemon):
    r = daemon.client().propose("exec_agent", "run_echo", daemon.seq(),
                                proposed_action={"kind": "shell_command", "command": "echo hello"})
    assert r.allowed and r.result is None, r


def workspace(daemon):
    """The broker's workspace, as announced on the ready line (`workspace=PATH`)."""
    import re
    m = re.search(r"^jinnguard: ready.*\bworkspace=(\S+)", daemon.output_since(0), re.M)
    return Path(m.group(1)) if m else None


def test_file_write_executes(daemon):
    ws = workspace(daemon)
    assert ws is not None, "ready line names no workspace=; cannot tell where file_write may write"
    d = ws / "exec_agent"  # each agent writes only below its own directory of the workspace
    target = d / "e2e-out.txt"
    try:
        fr = daemon.frame_for(agent="exec_agent", intent="write_temp",
                              proposed_action={"kind": "file_write", "path": str(target),
                                               "contents": "hello"},
                              execute=True)
        body = send_as(NONROOT, daemon.socket, [fr])[0]
        r = parse_reply(body)
        assert r.allowed, body
        assert r.result == {"bytes_written": 5, "executed": True, "path": str(target)}, body
        assert target.read_text() == "hello"
    finally:
        target.unlink(missing_ok=True)


def test_file_write_outside_workspace_not_executed(daemon):
    d = Path(tempfile.mkdtemp(prefix="jgw-", dir="/tmp"))
    os.chmod(d, 0o1777)
    target = d / "out.txt"
    try:
        r = daemon.client().propose("exec_agent", "write_temp", daemon.seq(), execute=True,
                                    proposed_action={"kind": "file_write", "path": str(target),
                                                     "contents": "hello"})
        assert not target.exists(), r
        assert r.token == "DENY_VIOLATION", r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_destructive_command_denied_by_broker(daemon_factory):
    from e2e_helpers import policy_with
    d = daemon_factory(policy=policy_with(**{"allowed_executables: [echo]": "allowed_executables: [echo, rm]"}))
    victim = Path(tempfile.mkdtemp(prefix="jgv-", dir="/tmp"))
    (victim / "keep").write_text("x")
    try:
        tok = d.token(agent="exec_agent", intent="run_tool",
                      proposed_action={"kind": "shell_command", "command": f"rm -rf {victim}"},
                      execute=True)
        assert tok.startswith("DENY_"), tok
        assert (victim / "keep").exists()
    finally:
        shutil.rmtree(victim, ignore_errors=True)
