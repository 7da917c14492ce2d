"""One agent's tools never see another agent's data or the daemon's (issue 10 item 3): each agent's tools
run under a uid of their own, in a mount view that holds only the agent's workspace, read-only system
directories, a private /tmp and /dev, their own /proc; Landlock scopes abstract sockets and signals."""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import DEFAULT_POLICY, NONROOT, Daemon, send_as
from jinnguard import parse_reply

CANARY = "canary-isolation-marker-7f3a"

ISO_POLICY = DEFAULT_POLICY.replace("canary_resources: [", f"canary_resources: [{CANARY}, ", 1) + """\
  - id: alice
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 5}
    invariants: []
  - id: bob
    privilege_tier: 1
    allowed_intents: [run_tool]
    allowed_executables: []
    tool_limits: {timeout_seconds: 5}
    invariants: []
"""


@pytest.fixture(scope="module")
def iso(tmp_path_factory):
    assert CANARY in ISO_POLICY, "the default policy has a canary_resources list"
    d = Daemon(tmp_path_factory.mktemp("isolation"), policy=ISO_POLICY)
    # The daemon's socket outside /tmp, where a private /tmp alone would not hide it.
    run_dir = Path("/run") / f"jg-iso-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    d.socket = run_dir / "jg.sock"
    d.start()
    yield d
    d.stop(check=True)
    d.cleanup()
    shutil.rmtree(run_dir, ignore_errors=True)


def workspace_root(d):
    m = re.search(r"^jinnguard: ready.*\bworkspace=(\S+)", d.output_since(0), re.M)
    return Path(m.group(1))


def run(d, agent, command):
    fr = d.frame_for(agent=agent, intent="run_tool", execute=True,
                     proposed_action={"kind": "shell_command", "command": command})
    r = parse_reply(send_as(NONROOT, d.socket, [fr])[0])
    assert r.allowed and r.result and r.result.get("executed"), r
    return r.result


def test_alice_cannot_read_bobs_files(iso):
    secret = "bob-private-" + os.urandom(6).hex()
    r = run(iso, "bob", f"echo {secret} > private.txt; cat private.txt")
    assert r["stdout"].strip() == secret, r
    bob_dir = workspace_root(iso) / "bob"
    assert (bob_dir / "private.txt").read_text().strip() == secret
    r = run(iso, "alice", f"cat ../bob/private.txt; cat {bob_dir}/private.txt; ls -la .. {bob_dir}; echo done")
    assert secret not in r["stdout"] + r["stderr"], r
    assert r["stdout"].rstrip().endswith("done"), r


def test_agents_have_tool_uids_of_their_own(iso):
    a = int(run(iso, "alice", "id -u")["stdout"])
    b = int(run(iso, "bob", "id -u")["stdout"])
    assert a != b, (a, b)
    for uid in (a, b):
        assert uid not in (0, 65534), uid
    # stable: the same uid on the next run
    assert int(run(iso, "alice", "id -u")["stdout"]) == a
    assert os.stat(workspace_root(iso) / "alice").st_uid == a


def test_daemon_state_is_not_visible(iso):
    state = workspace_root(iso).parent
    paths = [iso.policy, iso.secret_file, iso.audit, iso.lineage, state, state / "audit-signing.key", iso.socket]
    cmd = "; ".join(f"cat {p}; ls -la {p}" for p in paths) + "; echo done"
    r = run(iso, "alice", cmd)
    out = r["stdout"] + r["stderr"]
    assert CANARY not in r["stdout"], r
    assert iso.secret.decode() not in out, r
    assert "prev_hash" not in r["stdout"] and "global_safety_ceiling" not in r["stdout"], r
    assert "audit-signing" not in r["stdout"], r
    assert r["stdout"].rstrip().endswith("done"), r


CONNECT = """import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1].replace("@", "\\0", 1))
    print("CONNECTED")
except OSError as e:
    print("refused", e)
"""


def connect_from_tool(d, agent, address):
    assert "'" not in CONNECT
    return run(d, agent, f"python3 -c '{CONNECT}' '{address}'")


def test_host_pathname_socket_is_unreachable(iso, tmp_path):
    sock_dir = Path("/var/tmp") / f"jg-iso-host-{os.getpid()}"
    sock_dir.mkdir(mode=0o755, exist_ok=True)
    path = sock_dir / "host.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    os.chmod(path, 0o777)
    srv.listen(4)
    srv.setblocking(False)
    try:
        r = connect_from_tool(iso, "alice", str(path))
        assert "CONNECTED" not in r["stdout"], r
        assert "refused" in r["stdout"], r
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_daemon_socket_is_unreachable(iso):
    assert str(iso.socket).startswith("/run/")
    r = connect_from_tool(iso, "alice", str(iso.socket))
    assert "CONNECTED" not in r["stdout"], r
    assert "refused" in r["stdout"], r


def test_abstract_socket_of_the_host_is_unreachable(iso):
    name = f"jg-iso-abstract-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind("\0" + name)
    srv.listen(4)
    srv.setblocking(False)
    try:
        r = connect_from_tool(iso, "alice", "@" + name)
        assert "CONNECTED" not in r["stdout"], r
        assert "refused" in r["stdout"], r
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()


def test_cannot_signal_a_host_process(iso):
    uid = int(run(iso, "alice", "id -u")["stdout"])
    # a host process of the very uid the tool runs as: only the sandbox stands between them
    victim = subprocess.Popen(["sleep", "60"], user=uid, group=uid, extra_groups=[])
    try:
        r = run(iso, "alice", f"kill -s KILL {victim.pid}; echo rc=$?; python3 -c 'import os; os.kill({victim.pid}, 9)'; echo rc=$?")
        assert victim.poll() is None, r
        assert "rc=0" not in r["stdout"], r
    finally:
        victim.kill()
        victim.wait()


def test_view_holds_only_what_the_tool_needs(iso):
    r = run(iso, "alice", "ls /; echo ---; ls /dev; echo ---; ls /proc | grep -cE '^[0-9]+$'; echo ---; "
                          "touch /usr/x 2>&1; touch /etc/x 2>&1; echo w > ws.txt && cat ws.txt; echo t > /tmp/t && cat /tmp/t")
    top, dev, procs, rest = r["stdout"].split("---\n")
    names = set(top.split())
    assert {"usr", "etc", "tmp", "dev", "proc"} <= names, r
    assert not names & {"home", "root", "var", "run", "sys", "srv", "mnt", "boot"}, r
    assert set(dev.split()) <= {"null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout",
                                "stderr", "shm", "pts", "ptmx"}, r
    assert int(procs) <= 3, r
    assert "w\nt\n" in rest, r
    assert not Path("/usr/x").exists() and not Path("/etc/x").exists()
