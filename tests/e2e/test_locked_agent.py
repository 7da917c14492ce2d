"""Locked agents (issue #13): `jinnguard agent run` over the real daemon. Inside it, the original system's seven
locked-agent probes and the escape suite (tests/e2e/_locked_probes.py); outside, what the host saw of them
and what the audit log recorded. Identity comes from the runtime, not from what the agent signs."""

import json
import os
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from e2e_helpers import JINNGUARD_BIN, REPO, Daemon, token_of

LOCKED_POLICY = """\
global_safety_ceiling: 90.0
deny_anonymous_agents: true
canary_resources: ["canary_decoy_a91f"]
enforcement_scope: {governed_path_prefixes: []}
runtime_policy: {deny_root_peers: false, allowed_peer_uids: [], require_brokered_execution: true, require_sandbox_namespace: false}
agent_nodes:
  - id: locked_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: [echo]
    max_sequence_quota: 0
    writable_paths: [WRITABLE]
    require_sandbox_namespace: true
    tool_limits: {workspace_mb: 8}
    invariants: []
  - id: other_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    tool_limits: {workspace_mb: 8}
    invariants: []
"""
PROBES = Path(__file__).resolve().parent / "_locked_probes.py"
SDK = str(REPO / "clients" / "python")


def agent_run(d: Daemon, agent, cmd, extra=(), timeout=120, **kw):
    argv = [JINNGUARD_BIN, "agent", "run", "--agent", agent, "--state-dir", str(d.sockdir / "state"),
            "--socket", str(d.socket), "--secret-file", str(d.secret_file), *extra, "--", *cmd]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class Listener:
    """A host listener that counts connections: an escape that reached it is a connection here."""

    def __init__(self, family, address):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.accepted += 1
                c.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    root = tmp_path_factory.mktemp("locked")
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


@pytest.fixture(scope="module")
def probes(locked):
    """One run of the probe script inside the locked runtime, with host listeners it must not reach."""
    tcp = Listener(socket.AF_INET, ("127.0.0.1", 0))
    abstract = "jg-locked-" + os.urandom(6).hex()
    abs_l = Listener(socket.AF_UNIX, "\0" + abstract)
    planted = "/tmp/jg-planted-%s.sock" % os.urandom(6).hex()
    plant_l = Listener(socket.AF_UNIX, planted)
    os.chmod(planted, 0o777)
    before = len(locked.audit_lines())
    args = {"sdk": SDK, "tcp_port": tcp.sock.getsockname()[1], "abstract": abstract, "planted": planted,
            "host_pid": locked.proc.pid, "state": str(locked.sockdir / "state"), "writable": str(locked.writable),
            "other_agent": "other_agent"}
    try:
        r = agent_run(locked, "locked_agent", ["/usr/bin/python3", str(PROBES), json.dumps(args)],
                      extra=["--read-only", SDK, "--read-only", str(PROBES.parent), "--read-only", str(locked.writable)])
        assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}"
        out = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        tcp.close(); abs_l.close(); plant_l.close()
        os.unlink(planted)
    out["_host"] = {"tcp": tcp.accepted, "abstract": abs_l.accepted, "planted": plant_l.accepted}
    out["_audit"] = locked.wait_audit_count(before + 6)[before:]
    return out


# ---- the original's seven probes -------------------------------------------------------------------------

def test_runtime_attestation(probes):
    a = probes["attestation"]
    assert a["uid"] != 0
    assert int(a["cap_eff"], 16) == 0
    assert int(a["cap_prm"], 16) == 0 and int(a["cap_bnd"], 16) == 0 and int(a["cap_amb"], 16) == 0, a
    assert a["no_new_privs"] == "1"
    assert a["interfaces"] == ["lo"]
    assert a["socket_present"] is True


def test_direct_tcp_fails(probes):
    assert probes["direct_tcp"][0] == "error", probes["direct_tcp"]
    assert probes["_host"]["tcp"] == 0


def test_direct_etc_write_fails(probes):
    assert probes["direct_etc_write"][0] == "error", probes["direct_etc_write"]
    assert not os.path.exists("/etc/jg-locked-probe")


def test_direct_shell_reaches_nothing_outside(probes):
    lines = probes["direct_shell"]["stdout"].split()
    # each of the three steps reports a non-zero status, and printed nothing else (no secret)
    assert len(lines) == 3 and all(x != "0" for x in lines), probes["direct_shell"]
    assert not os.path.exists("/usr/jg-probe")
    if "direct_bash_tcp" in probes:
        assert "connected" not in probes["direct_bash_tcp"]["stdout"]
    assert probes["_host"]["tcp"] == 0


def test_unbrokered_action_refused(probes):
    assert probes["unbrokered"] == "DENY_RUNTIME_POLICY"


def test_brokered_shell_allowed(probes):
    b = probes["brokered_shell"]
    assert b["token"] in ("ALLOW", "CONSTRAIN"), b
    assert b["result"]["stdout"] == "hello-from-broker\n"


def test_brokered_write_lands_in_the_workspace(probes):
    b = probes["brokered_write"]
    assert b["token"] in ("ALLOW", "CONSTRAIN"), b
    assert b["result"]["bytes_written"] == 8
    assert b["seen_in_workspace"] == "brokered"


def test_brokered_write_to_a_writable_path(probes, locked):
    b = probes["brokered_write_absolute"]
    assert b["token"] in ("ALLOW", "CONSTRAIN"), b
    assert (locked.writable / "sdk.txt").read_text() == "absolute"
    assert b["seen"] == "absolute"
    # the agent itself sees it but cannot write there directly
    assert probes["direct_write_writable_path"][0] == "error"
    assert not (locked.writable / "direct.txt").exists()


# ---- identity from the runtime ----------------------------------------------------------------------------

def test_locked_agent_cannot_sign_as_another(probes):
    assert probes["as_other_agent"] == "DENY_AGENT_IDENTITY_BINDING"
    rec = [l for l in probes["_audit"] if "DENY_AGENT_IDENTITY_BINDING" in l]
    assert rec and "locked runtime of agent locked_agent" in rec[0]


def test_require_sandbox_namespace_refuses_outside(locked):
    # the same key and agent from outside the locked runtime, also from a pid namespace of its own
    seq = time.time_ns() + 10**12  # above what the SDK inside used (nanoseconds since the epoch)
    assert locked.token(agent="locked_agent", intent="run_echo", seq=seq) == "DENY_RUNTIME_POLICY"
    code = ("import sys; sys.path.insert(0, %r); from jinnguard import JinnGuardClient; "
            "print(JinnGuardClient(socket_path=%r, secret=%r).propose('locked_agent', 'run_echo', %d).token)"
            % (SDK, str(locked.socket), locked.secret.decode(), seq + 1))
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "DENY_RUNTIME_POLICY", r.stderr
    # an agent that does not require it still answers from outside
    assert locked.token(agent="other_agent", intent="read_customer_record", seq=seq + 2) == "ALLOW"


# ---- the escape suite ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["af_inet", "af_inet6", "af_netlink", "af_vsock", "mptcp", "af_packet"])
def test_socket_families_refused(probes, name):
    assert probes[name] == ["error", "EAFNOSUPPORT"], probes[name]


def test_host_sockets_unreachable(probes):
    assert probes["host_abstract_socket"][0] == "error" and probes["_host"]["abstract"] == 0
    assert probes["host_planted_socket"][0] == "error" and probes["_host"]["planted"] == 0


def test_io_uring_refused(probes):
    assert probes["io_uring_setup"] == ["error", "EPERM"]


def test_tiocsti_refused_also_with_high_bits(probes):
    # EPERM is seccomp's answer; stdin is no terminal, so the kernel itself would say ENOTTY
    assert probes["tiocsti"] == ["error", "EPERM"]
    assert probes["tiocsti_high_bits"] == ["error", "EPERM"]


def test_32bit_socketcall_kills(probes):
    assert probes["socketcall_32"]["signal"] == 31, probes["socketcall_32"]  # SIGSYS


def test_host_processes_untouchable(probes):
    assert probes["ptrace_host"][0] == "error"
    assert probes["kill_host"][0] == "error"


def test_no_new_user_namespace(probes):
    assert probes["unshare_user"] == ["error", "EPERM"]
    assert probes["clone_newuser"] == ["error", "EPERM"]


def test_secrets_and_state_unreadable(probes, locked):
    shadow = probes["etc_shadow"]
    assert shadow[0] == "error" or shadow[1] == "", shadow
    assert probes["daemon_secret"][0] == "error"
    assert probes["daemon_audit"][0] == "error"
    # the key is inside only at /run/jinnguard/secret: readable there (the SDK signed with it), nowhere on the host
    assert probes["brokered_shell"]["token"] in ("ALLOW", "CONSTRAIN")


def test_fork_bomb_contained(probes):
    fb = probes["fork_bomb"]
    assert fb["errno"] == "EAGAIN", fb
    assert fb["forked"] is not None and fb["forked"] <= 128
    assert probes["after_bomb"] == "ALLOW"


def test_only_the_socket_and_stdio(probes):
    assert probes["sockets"] == ["/run/jinnguard/jinnguard.sock"]
    assert probes["fds"] == [0, 1, 2], probes["fds_names"]


def tracepoint_active(d):
    for line in d.audit_lines():
        if "KernelPlanes" in line:
            planes, _ = json.JSONDecoder().raw_decode(line[line.index('"planes":') + len('"planes":'):])
            return planes.get("tracepoint", {}).get("active") is True
    return False


def test_kernel_plane_saw_the_attempts(probes, locked):
    """Where the kernel sees an attempt (the raw tracepoint plane: opens), the audit log holds it as telemetry
    of the locked agent's cgroup; the attempts the kernel never sees (seccomp, Landlock) fail before it."""
    if not tracepoint_active(locked):
        pytest.skip("the kernel tracepoint plane is not active here: no open telemetry")
    state = str(locked.sockdir / "state")
    deadline = time.monotonic() + 10
    wanted = {"/etc/shadow", state + "/secret", state + "/audit.jsonl"}
    while time.monotonic() < deadline:
        opened = set()
        for l in locked.audit_lines():
            if "KernelTelemetry" in l:
                events = json.loads(l)["decision"].get("events", [])
                opened |= {e.get("detail") for e in events if e.get("kind") == "open"}
        if wanted <= opened:
            break
        time.sleep(0.2)
    assert wanted <= opened, f"missing from the kernel telemetry: {wanted - opened}"


# ---- the command itself ------------------------------------------------------------------------------------

def test_exit_status_and_pipes(locked):
    r = agent_run(locked, "other_agent", ["/bin/sh", "-c", "read x; echo got-$x; exit 7"], input="hello\n")
    assert r.returncode == 7, r.stderr
    assert r.stdout == "got-hello\n"


def test_refuses_unknown_layer_host_state(locked):
    # no governed cgroup for an agent the daemon does not know: one line, non-zero, nothing ran
    r = agent_run(locked, "no_such_agent", ["/bin/echo", "ran"], extra=["--uid", "1600099999", "--workspace", "/tmp"])
    assert r.returncode == 125
    assert "ran" not in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1 and "cgroup" in r.stderr


GLOBAL_REQUIRE = """\
global_safety_ceiling: 90.0
deny_anonymous_agents: true
canary_resources: []
enforcement_scope: {governed_path_prefixes: []}
runtime_policy: {deny_root_peers: false, allowed_peer_uids: [], require_brokered_execution: false, require_sandbox_namespace: true}
agent_nodes:
  - id: claims_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    tool_limits: {workspace_mb: 8}
    invariants: []
"""


def test_global_require_sandbox_namespace_wants_the_locked_runtime(daemon_factory):
    """A pid namespace of one's own is no sandbox (any process can make one); only the agent's locked
    runtime counts."""
    d = daemon_factory(policy=GLOBAL_REQUIRE)
    code = ("import sys; sys.path.insert(0, %r); from jinnguard import JinnGuardClient; "
            "print(JinnGuardClient(socket_path=%r, secret=%r).propose('claims_agent', 'read_customer_record', %d).token)"
            % (SDK, str(d.socket), d.secret.decode(), d.seq()))
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "DENY_RUNTIME_POLICY", r.stdout + r.stderr
    inside = ("from jinnguard import JinnGuardClient; import sys; "
              "print(JinnGuardClient().propose('claims_agent', 'read_customer_record', %d).token)" % d.seq())
    r = agent_run(d, "claims_agent", ["/usr/bin/python3", "-c", inside], extra=["--read-only", SDK, "--env", "PYTHONPATH=" + SDK])
    assert r.stdout.strip() == "ALLOW", r.stderr


def docs_blocks():
    """The policy entry, script, command line and output of docs/locked-agents.md's worked example."""
    text = (REPO / "docs" / "locked-agents.md").read_text()
    example = text[text.index("## Brokered actions land"):]
    blocks = {}
    for lang in ("yaml", "python", "sh"):
        start = example.index("```" + lang + "\n") + len(lang) + 4
        blocks[lang] = example[start:example.index("```", start)]
    start = example.index("It prints:\n\n```\n") + len("It prints:\n\n```\n")
    blocks["output"] = example[start:example.index("```", start)]
    return blocks


def test_docs_example_runs_verbatim(daemon_factory, tmp_path):
    b = docs_blocks()
    head = LOCKED_POLICY[:LOCKED_POLICY.index("agent_nodes:\n") + len("agent_nodes:\n")]
    d = daemon_factory(policy=head.replace("require_brokered_execution: true", "require_brokered_execution: false") + b["yaml"])
    pwd = Path(tempfile.mkdtemp(prefix="jg-docs-"))
    try:
        os.chmod(pwd, 0o755)
        (pwd / "agent.py").write_text(b["python"])
        (pwd / "clients").symlink_to(REPO / "clients")
        cmd = b["sh"].replace("sudo .build/debug/jinnguard agent run",
                              f"{JINNGUARD_BIN} agent run --state-dir {d.sockdir / 'state'} --socket {d.socket} "
                              f"--secret-file {d.secret_file}")
        r = subprocess.run(["/bin/sh", "-c", cmd], cwd=pwd, env={**os.environ, "PWD": str(pwd)},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == b["output"], r.stdout + r.stderr
    finally:
        (pwd / "clients").unlink()
        (pwd / "agent.py").unlink()
        pwd.rmdir()


def test_jg_agent_run_is_the_same_runtime(locked):
    """jg-agent-run: the same options and procedure without the operator command's libraries."""
    lean = str(Path(JINNGUARD_BIN).parent / "jg-agent-run")
    argv = [lean, "--agent", "other_agent", "--state-dir", str(locked.sockdir / "state"), "--socket", str(locked.socket),
            f"--secret-file={locked.secret_file}", "--",
            "/bin/sh", "-c", "read x; echo got-$x; ls /run/jinnguard; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; exit 3"]
    r = subprocess.run(argv, input="hi\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["got-hi", "jinnguard.sock", "secret", "NoNewPrivs:", "1", "Seccomp:", "2"], r.stdout
    bad = subprocess.run([lean, "--agent", "other_agent", "--bogus", "--", "/bin/true"], capture_output=True, text=True)
    assert bad.returncode == 125 and "unknown option --bogus" in bad.stderr


def test_process_in_an_agents_cgroup_cannot_sign_as_another(daemon_factory):
    """The runtime names the agent: a process root placed in claims_agent's governed cgroup (as
    `jinnguard agent run` and the broker do) signs, with the shared key, as billing_agent."""
    import re
    d = daemon_factory()
    m = re.search(r"agents (\S+)", d.output_text(400))
    if not m or not os.path.isdir(os.path.join(m.group(1), "claims_agent")):
        pytest.skip("no governed agent cgroups on this host (the kernel plane is not up)")
    cg = os.path.join(m.group(1), "claims_agent", "locked-e2e-%d" % os.getpid())
    os.mkdir(cg)
    try:
        code = ("import os, sys; sys.path.insert(0, %r); open(%r, 'w').write(str(os.getpid())); "
                "from jinnguard import JinnGuardClient; c = JinnGuardClient(socket_path=%r, secret=%r); "
                "print(c.propose('billing_agent', 'read_customer_record', %d, context_vars={'spending_ceiling_usd': 1}).token); "
                "print(c.propose('claims_agent', 'read_customer_record', %d).token)"
                % (SDK, cg + "/cgroup.procs", str(d.socket), d.secret.decode(), d.seq(), d.seq()))
        r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=30)
        assert r.stdout.split() == ["DENY_AGENT_IDENTITY_BINDING", "ALLOW"], r.stdout + r.stderr
    finally:
        os.rmdir(cg)
