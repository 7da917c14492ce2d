"""Issue 11 items 7 and 3 (links): health follows what the components really do, and links heal.

SIGSTOP of any component must show in /healthz and `jinnguard status` within a bounded poll (the
supervisor pings each component over its control link); one kept stopped past the grace is restarted;
status.json carries real pids as soon as the daemon says ready; a link broken under a live component is
re-established by the supervisor.
"""
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from e2e_helpers import COMPONENTS, NONROOT, ALLOWED, pid_alive


def status_cli(d):
    r = d.cli("status", "--state-dir", str(d.sockdir / "state"), timeout=20)
    return r.returncode, r.stdout + r.stderr


def poll(cond, limit, step=0.2):
    """Polls `cond` until true or `limit` seconds passed; returns its last value."""
    deadline = time.monotonic() + limit
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def unhealthy_naming(d, name):
    code, body = d.http("/healthz")
    rc, out = status_cli(d)
    return code == 503 and name in body and rc == 1 and name in out


def healthy(d):
    code, _ = d.http("/healthz")
    rc, _ = status_cli(d)
    return code == 200 and rc == 0


def served(d):
    return d.token_as(NONROOT) in ALLOWED


@pytest.mark.parametrize("name", ["jg-gate", "jg-broker", "jg-kernel", "jg-prover"])
def test_sigstop_shows_in_health_and_sigcont_recovers(daemon, name):
    pid = daemon.wait_components()[name]
    assert poll(lambda: healthy(daemon), 10), "not healthy before the test"
    os.kill(pid, signal.SIGSTOP)
    try:
        assert poll(lambda: unhealthy_naming(daemon, name), 10), \
            f"{name} stopped, yet health says: {daemon.http('/healthz')} / {status_cli(daemon)}"
    finally:
        os.kill(pid, signal.SIGCONT)
    assert poll(lambda: healthy(daemon), 10), f"not healthy after SIGCONT: {status_cli(daemon)}"
    assert daemon.components()[name] == pid, "a briefly stopped component must not be restarted"
    assert poll(lambda: served(daemon), 10)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jg-broker", "jg-gate"])
def test_component_stopped_past_grace_is_restarted(daemon, name):
    pid = daemon.wait_components()[name]
    assert poll(lambda: served(daemon), 10)
    os.kill(pid, signal.SIGSTOP)
    try:
        replaced = poll(lambda: daemon.components().get(name, pid) != pid, 60, step=0.5)
        assert replaced, f"{name} stopped for 60 s and still not replaced:\n" + daemon.output_text(30)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
    assert poll(lambda: served(daemon), 15), "requests not served after the restart"
    assert poll(lambda: healthy(daemon), 10)
    assert "liveness" in daemon.output_text(200)


def test_status_json_has_real_pids_right_after_ready(daemon_factory):
    d = daemon_factory()
    status = json.loads((d.sockdir / "state" / "status.json").read_text())
    ready = next(l for l in d.output if l.startswith("jinnguard: ready"))
    for name in COMPONENTS:
        m = re.search(rf"\b{name}=(\d+)", ready)
        assert m and int(m.group(1)) > 0, ready
        assert status["components"][name]["pid"] == int(m.group(1)), status


# -- links -----------------------------------------------------------------------------------------

SYS_pidfd_getfd = 438


def steal_fd(pid: int, fd: int) -> int:
    """A duplicate of `fd` of process `pid` (pidfd_getfd; root may take it from any process)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        r = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r
    finally:
        os.close(pidfd)


def socket_inodes(pid: int) -> dict[int, int]:
    """inode → fd for the socket descriptors of `pid`."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            out[int(m.group(1))] = int(fd)
    return out


def link_fd(a_pid: int, b_pid: int) -> int:
    """The fd of `a_pid` whose socketpair peer is held by `b_pid`."""
    a, b = socket_inodes(a_pid), socket_inodes(b_pid)
    ss = subprocess.run(["ss", "-xaH"], capture_output=True, text=True, check=True).stdout
    for line in ss.splitlines():
        f = line.split()
        # Netid State Recv-Q Send-Q Local-Address Port Peer-Address Port
        if len(f) < 8 or f[0] != "u_str":
            continue
        try:
            local, peer = int(f[5]), int(f[7])
        except ValueError:
            continue
        if local in a and peer in b:
            return a[local]
    raise AssertionError(f"no socket of pid {a_pid} is linked to pid {b_pid}")


def break_link(a_pid: int, b_pid: int):
    fd = steal_fd(a_pid, link_fd(a_pid, b_pid))
    s = socket.socket(fileno=fd)
    try:
        s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()


@pytest.mark.parametrize("pair", [("jg-gate", "jg-broker"), ("jg-gate", "jg-prover"), ("jg-prover", "jg-broker")])
def test_broken_link_is_re_established(daemon, pair):
    comps = daemon.wait_components()
    assert poll(lambda: served(daemon), 10)
    start = daemon.output_len()
    break_link(comps[pair[0]], comps[pair[1]])
    assert poll(lambda: served(daemon) and healthy(daemon), 15), \
        "link not re-established:\n" + daemon.output_since(start)
    assert daemon.components() == comps, "re-pairing must not restart anything"


@pytest.mark.slow
def test_link_that_keeps_breaking_gets_a_component_restarted(daemon):
    comps = daemon.wait_components()
    gate, broker = comps["jg-gate"], comps["jg-broker"]
    assert poll(lambda: served(daemon), 10)
    start = daemon.output_len()
    for _ in range(4):
        now = daemon.components()
        if now.get("jg-gate") != gate or now.get("jg-broker") != broker:
            break
        break_link(gate, broker)
        assert poll(lambda: served(daemon), 15), "link not re-established:\n" + daemon.output_since(start)
    restarted = poll(lambda: daemon.components().get("jg-gate") != gate or daemon.components().get("jg-broker") != broker, 10)
    assert restarted, "a link broken 4 times in a row must get a component restarted:\n" + daemon.output_since(start)
    assert "keep breaking" in daemon.output_since(start)
    assert poll(lambda: served(daemon) and healthy(daemon), 15)
