"""Locked agents (issue #13), the gaps after the first cut: every refused escape leaves a record the kernel
made (jg-kernel's tracepoints, audited as KernelTelemetry); a socket handed on before the gate accepted it
does not lose the locked agent's identity; signals to `jinnguard agent run` reach the agent."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_helpers import JINNGUARD_BIN, Daemon, token_of  # noqa: E402
from test_locked_agent import LOCKED_POLICY, PROBES, SDK, Listener, agent_run, tracepoint_active  # noqa: E402


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    import tempfile
    root = tmp_path_factory.mktemp("locked-records")
    writable = Path(tempfile.mkdtemp(prefix="jg-locked-w-"))
    os.chmod(writable, 0o1777)
    d = Daemon(root, policy=LOCKED_POLICY.replace("WRITABLE", str(writable)))
    try:
        d.start()
        d.writable = writable
        yield d
    finally:
        try:
            d.stop(check=True)
        finally:
            d.cleanup()
            for f in writable.iterdir():
                f.unlink()
            writable.rmdir()


def telemetry(d, kinds):
    found = []
    for l in d.audit_lines():
        if "KernelTelemetry" in l:
            found += [e for e in json.loads(l)["decision"].get("events", []) if e.get("kind") in kinds]
    return found


# ---- every refused escape leaves a kernel record ----------------------------------------------------------

# (what the probe did, the record's words): the syscall the kernel refused and the errno it answered.
EXPECTED = {
    "af_inet": "socket EAFNOSUPPORT family=2",
    "af_inet6": "socket EAFNOSUPPORT family=10",
    "af_netlink": "socket EAFNOSUPPORT family=16",
    "af_vsock": "socket EAFNOSUPPORT family=40",
    "af_packet": "socket EAFNOSUPPORT family=17",
    "io_uring_setup": "io_uring_setup EPERM",
    "tiocsti": "ioctl EPERM request=0x5412",
    "tiocsti_high_bits": "ioctl EPERM request=0x100005412",
    "ptrace_host": "ptrace EPERM",
    "kill_host": "kill ESRCH",
    "unshare_user": "unshare EPERM flags=0x10000000",
    "clone_newuser": "clone EPERM flags=0x10000011",
    "daemon_secret": "openat EACCES",
    "fork_bomb": "clone EAGAIN",
}


def test_every_refused_escape_leaves_a_kernel_record(locked):
    if not tracepoint_active(locked):
        pytest.skip("the kernel tracepoint plane is not active here")
    tcp = Listener(socket.AF_INET, ("127.0.0.1", 0))
    abstract = "jg-locked-" + os.urandom(6).hex()
    abs_l = Listener(socket.AF_UNIX, "\0" + abstract)
    planted = "/tmp/jg-planted-%s.sock" % os.urandom(6).hex()
    plant_l = Listener(socket.AF_UNIX, planted)
    args = {"sdk": SDK, "tcp_port": tcp.sock.getsockname()[1], "abstract": abstract, "planted": planted,
            "host_pid": locked.proc.pid, "state": str(locked.sockdir / "state"), "writable": str(locked.writable),
            "other_agent": "other_agent"}
    try:
        r = agent_run(locked, "locked_agent", ["/usr/bin/python3", str(PROBES), json.dumps(args)],
                      extra=["--read-only", SDK, "--read-only", str(PROBES.parent), "--read-only", str(locked.writable)])
        assert r.returncode == 0, r.stderr[-3000:]
    finally:
        tcp.close(); abs_l.close(); plant_l.close()
        os.unlink(planted)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["socketcall_32"]["signal"] == 31
    # host UNIX sockets: the network namespace has no such abstract name, the private /tmp no such path
    expected = {**EXPECTED, "host_abstract_socket": "connect ECONNREFUSED unix:@" + abstract,
                "host_planted_socket": "connect ENOENT unix:" + planted}
    deadline = time.monotonic() + 15
    missing = dict(expected)
    kills = []
    while time.monotonic() < deadline:
        refused = [e["detail"] for e in telemetry(locked, {"refused"})]
        kills = [e["detail"] for e in telemetry(locked, {"seccomp_kill"})]
        missing = {k: v for k, v in expected.items()
                   if not any(("agent=locked_agent " + v) in x for x in refused)}
        if not missing and kills:
            break
        time.sleep(0.3)
    assert not missing, f"refused escapes without a kernel record: {missing}"
    # the 32-bit socketcall: the filter killed the process (SIGSYS), and the kernel said which call
    assert any("agent=locked_agent" in k and "arch=0x40000003 syscall=102" in k for k in kills), kills


# ---- identity when the connecting process is gone before the accept ---------------------------------------

def gate_pid(d):
    return d.components()["jg-gate"]


def test_socket_handed_on_before_accept_keeps_the_locked_identity(locked):
    """A locked process connects and exits before the gate accepts; the socket lives on in another locked
    process, which signs as another agent with the shared key. The gate can no longer read the connector's
    cgroup: it must refuse rather than take the connection for one from outside the locked runtime."""
    script = Path(locked.sockdir) / "handoff.py"
    script.write_text(HANDOFF_SCRIPT)
    os.chmod(script, 0o644)
    gate = gate_pid(locked)
    argv = [JINNGUARD_BIN, "agent", "run", "--agent", "locked_agent", "--state-dir", str(locked.sockdir / "state"),
            "--socket", str(locked.socket), "--secret-file", str(locked.secret_file), "--read-only", SDK,
            "--read-only", str(script), "--env", "SDK=" + SDK, "--env", "AS_AGENT=other_agent",
            "--", "/usr/bin/python3", str(script)]
    os.kill(gate, signal.SIGSTOP)
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
    finally:
        os.kill(gate, signal.SIGCONT)
    assert line.strip() == "connected", p.stderr.read()
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, err
    assert token_of(out.encode()) == "DENY_AGENT_IDENTITY_BINDING", out + err


HANDOFF_SCRIPT = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
pid = os.fork()
if pid == 0:
    s.connect(os.environ["JINN_GUARD_SOCKET"])  # the connecting process is this child
    os._exit(0)
os.waitpid(pid, 0)                                # gone (reaped) before the gate accepts
print("connected", flush=True)
sys.stdin.readline()
sys.path.insert(0, os.environ["SDK"])
from jinnguard import JinnGuardClient
from jinnguard.client import read_reply_body
c = JinnGuardClient()
s.sendall(c.proposal_frame(os.environ["AS_AGENT"], "read_customer_record", c.next_sequence()))
print(read_reply_body(s).decode(errors="replace"), flush=True)
"""


# ---- signals reach the agent -------------------------------------------------------------------------------

CATCHER = r"""
import os, signal, sys, time
def h(n, f):
    os.write(1, b"got %d\n" % n)  # not print: the signal may land inside print("ready")'s flush
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
    signal.signal(s, h)
os.write(1, b"ready\n")
while True:
    time.sleep(1)
"""


def read_line(p, limit=30):
    r, _, _ = select.select([p.stdout], [], [], limit)
    return p.stdout.readline().strip() if r else None


def test_signals_are_forwarded_to_the_agent(locked):
    argv = [JINNGUARD_BIN, "agent", "run", "--agent", "other_agent", "--state-dir", str(locked.sockdir / "state"),
            "--socket", str(locked.socket), "--secret-file", str(locked.secret_file),
            "--", "/usr/bin/python3", "-c", CATCHER]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(p) == "ready", p.stderr.read() if p.poll() is not None else ""
        for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGWINCH, signal.SIGINT, signal.SIGQUIT):
            p.send_signal(s)
            assert read_line(p) == f"got {int(s)}", f"signal {s.name}: exit {p.poll()}"
        # SIGTERM has no handler in the agent: it ends the agent, and the runtime says so (128 + 15)
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 128 + signal.SIGTERM, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_default_action_of_a_forwarded_signal(locked):
    """An agent without handlers (sleep, pid 1 of its namespace) still ends by a forwarded SIGHUP as any process
    would; SIGWINCH, ignored by default, leaves it running."""
    argv = [JINNGUARD_BIN, "agent", "run", "--agent", "other_agent", "--state-dir", str(locked.sockdir / "state"),
            "--socket", str(locked.socket), "--secret-file", str(locked.secret_file),
            "--", "/bin/sh", "-c", "echo ready; exec sleep 60"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(p) == "ready", p.stderr.read() if p.poll() is not None else ""
        time.sleep(0.2)  # sh has exec'd sleep (nothing is asserted on the time)
        p.send_signal(signal.SIGWINCH)
        p.send_signal(signal.SIGHUP)
        assert p.wait(60) == 128 + signal.SIGHUP, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
