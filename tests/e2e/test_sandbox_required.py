"""Sandbox layers are required, not best effort (issue 11 item 9). The test makes a layer unavailable for
real: the daemon is started under a seccomp filter (inherited by everything it starts) that refuses
unshare(CLONE_NEWUSER) with EPERM, as a host that forbids unprivileged user namespaces would. A required
agent's run then fails with DENY_SANDBOX_UNAVAILABLE and the reason in the audit log; a best_effort
agent's run goes ahead with the missing layers listed, and health says degraded."""

import json
import re
import os
import platform
import sys
from pathlib import Path

import pytest

from e2e_helpers import DEFAULT_POLICY, NONROOT, Daemon, send_as
from jinnguard import parse_reply

POLICY = DEFAULT_POLICY + """\
  - id: strict_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 5}
    invariants: []
  - id: lenient_agent
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    sandbox_mode: best_effort
    tool_limits: {timeout_seconds: 5}
    invariants: []
"""

# Classic BPF: on x86_64, unshare(flags & CLONE_NEWUSER) -> EPERM; everything else allowed.
WRAPPER = r'''
import ctypes, os, struct, sys
def ins(code, jt, jf, k): return struct.pack("HBBI", code, jt, jf, k)
prog = b"".join([
    ins(0x20, 0, 0, 4),                 # ld arch
    ins(0x15, 0, 5, 0xC000003E),        # jeq x86_64
    ins(0x20, 0, 0, 0),                 # ld nr
    ins(0x15, 0, 3, 272),               # jeq unshare
    ins(0x20, 0, 0, 16),                # ld args[0] (low word)
    ins(0x45, 0, 1, 0x10000000),        # jset CLONE_NEWUSER
    ins(0x06, 0, 0, 0x00050000 | 1),    # ret ERRNO(EPERM)
    ins(0x06, 0, 0, 0x7FFF0000),        # ret ALLOW
])
n = len(prog) // 8
buf = ctypes.create_string_buffer(prog, len(prog))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(n, ctypes.cast(buf, ctypes.c_void_p))
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fp), 0, 0) != 0:
    sys.exit("seccomp: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
'''


class NoUserNamespaceDaemon(Daemon):
    def argv(self):
        wrapper = self.root / "no-userns.py"
        wrapper.write_text(WRAPPER)
        return [sys.executable, str(wrapper)] + super().argv()


@pytest.fixture(scope="module")
def crippled(tmp_path_factory):
    if platform.machine() != "x86_64":
        pytest.skip("the test's seccomp filter is written for x86_64")
    d = NoUserNamespaceDaemon(tmp_path_factory.mktemp("required"), policy=POLICY)
    d.start()
    yield d
    d.stop(check=True)
    d.cleanup()


def send(d, agent, command):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=True,
                     proposed_action={"kind": "shell_command", "command": command})
    return parse_reply(send_as(NONROOT, d.socket, [fr])[0])


def outcomes(d, agent):
    out = []
    for line in d.audit_lines():
        e = json.loads(line)
        if e["intent"].get("class") == "Execution" and e["observation"].get("agent_id") == agent:
            out.append(e["decision"])
    return out


def workspace(d, agent):
    import re
    m = re.search(r"^jinnguard: ready.*\bworkspace=(\S+)", d.output_since(0), re.M)
    return Path(m.group(1)) / agent


def test_the_test_really_removes_user_namespaces(crippled):
    # the supervisor itself runs under the filter
    status = Path(f"/proc/{crippled.proc.pid}/status").read_text()
    assert "Seccomp:\t2" in status, status


def test_required_layer_missing_denies_the_run(crippled):
    r = send(crippled, "strict_agent", "echo ran > ran.txt; echo ran")
    assert r.token == "DENY_SANDBOX_UNAVAILABLE", r
    assert not (workspace(crippled, "strict_agent") / "ran.txt").exists()
    last = outcomes(crippled, "strict_agent")[-1]
    assert last["verdict"] == "NOT_EXECUTED", last
    assert "userns" in last["error"] and "Operation not permitted" in last["error"], last
    assert "userns" in last.get("sandbox_missing", []), last


def test_best_effort_runs_with_the_layer_listed_missing(crippled):
    r = send(crippled, "lenient_agent", "echo ran")
    assert r.allowed and r.result["executed"] and r.result["stdout"] == "ran\n", r
    last = outcomes(crippled, "lenient_agent")[-1]
    assert last["verdict"] == "EXECUTED", last
    assert {"userns", "mountns", "pidns", "netns", "view"} <= set(last["sandbox_missing"]), last
    assert not {"userns", "mountns"} & set(last["sandbox"]), last
    # the layers that do not need a user namespace are still there
    assert {"landlock_fs", "seccomp"} <= set(last["sandbox"]), last


def test_health_shows_degraded(crippled):
    import time
    send(crippled, "lenient_agent", "true")
    deadline = time.monotonic() + 10
    body = {}
    while time.monotonic() < deadline:
        status, text = crippled.http("/healthz")
        body = json.loads(text)
        if body.get("details", {}).get("degraded"):
            break
        time.sleep(0.2)
    assert status == 200, (status, body)
    assert any("lenient_agent" in d and "userns" in d for d in body["details"]["degraded"]), body
    assert body["status"] == "ok" and body["reason"].startswith("degraded: "), body
    state = workspace(crippled, "x").parent.parent
    # status.json is rewritten every second: wait for the one that includes the degraded run
    deadline = time.monotonic() + 10
    while True:
        out = crippled.cli("status", "--state-dir", str(state))
        if "degraded: lenient_agent" in out.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out.returncode == 0, out
    assert "healthy but degraded" in out.stdout, out.stdout
    assert re.search(r"degraded: lenient_agent: .*userns", out.stdout), out.stdout


def test_healthy_daemon_runs_required_layers(daemon_factory):
    d = daemon_factory(policy=POLICY)
    r = send(d, "strict_agent", "echo ok")
    assert r.allowed and r.result["stdout"] == "ok\n", r
    last = outcomes(d, "strict_agent")[-1]
    assert not last.get("sandbox_missing"), last
    assert {"userns", "mountns", "pidns", "netns", "view", "landlock_fs", "landlock_scope", "seccomp"} <= set(last["sandbox"]), last
