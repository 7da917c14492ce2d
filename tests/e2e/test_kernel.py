"""jg-kernel: the real BPF objects of bpf/ load, attach and enforce where this kernel allows, and the daemon
says exactly which planes are active.

How a test governs a process: jg-kernel creates <cgroup2>/jinnguard/<instance>/agents/<agent_id> for every
agent and governs it as that agent (the path is printed at start: "agents /sys/fs/cgroup/…/agents"). The
programs look at the calling task's cgroup and its ancestors, so anything in a child cgroup made below it
is governed. Each test makes its own child cgroup, moves one child process into it, and removes it after.

Needs: root, cgroup v2, bpffs (jg-kernel mounts it), the objects built (`make bpf`; JINNGUARD_BPF_DIR)."""

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from e2e_helpers import CHILD_PY, DEFAULT_POLICY, JINNGUARD_BIN, pid_alive, proc_status

DENIED4 = "127.0.0.2"
ALLOWED4 = "127.0.0.1"
DENIED6 = "::1"

POLICY = DEFAULT_POLICY.replace(
    "  - id: claims_agent\n    privilege_tier: 1\n",
    "  - id: claims_agent\n    privilege_tier: 1\n"
    f'    denied_destinations: ["{DENIED4}/32", "{DENIED6}"]\n'
    '    denied_directories: ["/etc/ssl"]\n',
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="jg-kernel tests need root")


def bpf_dir():
    d = os.environ.get("JINNGUARD_BPF_DIR") or str(Path(JINNGUARD_BIN).resolve().parent / "bpf")
    return d


@pytest.fixture
def kd(daemon_factory):
    """A daemon on POLICY with the kernel plane up; .agents = the agents cgroup directory."""
    if not Path(bpf_dir(), "jg_sock.bpf.o").exists():
        pytest.fail(f"BPF objects not built in {bpf_dir()} (make bpf / JINNGUARD_BPF_DIR)")
    d = daemon_factory(policy=POLICY, env={"JINNGUARD_BPF_DIR": bpf_dir()})
    m = re.search(r"jg-kernel: info: instance (\S+): pins (\S+), cgroup (\S+), agents (\S+)", d.output_text(400))
    assert m, d.output_text()
    d.instance, d.pins, d.cgroup, d.agents = m.groups()
    if "plane cgroup_sock_addr: active" not in d.output_text(400):
        pytest.fail("cgroup socket programs did not load here:\n" + d.output_text())
    return d


class Listeners:
    """TCP listeners on the denied and the allowed loopback addresses (and ::1 when it exists)."""

    def __init__(self):
        self.socks = []
        self.ports = {}
        for host in (DENIED4, ALLOWED4):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            s.listen(64)
            self.socks.append(s)
            self.ports[host] = s.getsockname()[1]
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind((DENIED6, 0))
            s.listen(64)
            self.socks.append(s)
            self.ports[DENIED6] = s.getsockname()[1]
        except OSError:
            pass

    def close(self):
        for s in self.socks:
            s.close()


@pytest.fixture
def listeners():
    ls = Listeners()
    yield ls
    ls.close()


PROBE = textwrap.dedent("""
    import json, os, socket, subprocess, sys
    cfg = json.loads(sys.stdin.readline())
    if cfg.get("cgroup"):
        with open(cfg["cgroup"] + "/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
    out = {"cgroup": open("/proc/self/cgroup").read().strip()}
    def attempt(family, addr, port):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            return s.connect_ex((addr, port))
        finally:
            s.close()
    res = []
    for fam, addr, port in cfg.get("connect", []):
        res.append(attempt(socket.AF_INET6 if fam == 6 else socket.AF_INET, addr, port))
    out["connect"] = res
    udp = []
    for addr, port in cfg.get("sendto", []):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", (addr, port)); udp.append(0)
        except OSError as e:
            udp.append(e.errno)
        s.close()
    out["sendto"] = udp
    for path in cfg.get("open", []):
        try:
            open(path, "rb").close(); out.setdefault("open", []).append(0)
        except OSError as e:
            out.setdefault("open", []).append(e.errno)
    for argv in cfg.get("exec", []):
        out.setdefault("exec", []).append(subprocess.run(argv).returncode)
    print(json.dumps(out))
""")


class Cgroup:
    """A child cgroup below an agent's governed directory (or anywhere), removed on exit."""

    def __init__(self, parent, name=None):
        self.path = Path(parent) / (name or f"t{os.getpid()}-{time.monotonic_ns()}")
        self.path.mkdir()

    def run(self, **cfg):
        return probe(cgroup=str(self.path), **cfg)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def probe(**cfg):
    p = subprocess.run([CHILD_PY, "-c", PROBE], input=json.dumps(cfg) + "\n", capture_output=True, text=True,
                       timeout=30, cwd="/")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def planes_from_audit(d, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in d.audit_lines():
            if "KernelPlanes" in line:
                m = re.search(r'"planes":(\{.*?\}\}\})', line) or re.search(r'"planes":(\{.*\})', line)
                text = line[line.index('"planes":') + len('"planes":'):]
                obj, _ = json.JSONDecoder().raw_decode(text)
                return obj
        time.sleep(0.1)
    raise AssertionError("no KernelPlanes record in the audit log")


# ----------------------------------------------------------------------------------------------- planes

def test_planes_are_the_real_objects_and_reported_honestly(kd):
    planes = planes_from_audit(kd)
    assert set(planes) >= {"lsm", "tracepoint", "cgroup_sock_addr"}, planes
    sock = planes["cgroup_sock_addr"]
    assert sock["active"] is True and sock["errno"] == 0, sock
    assert sorted(sock["programs"]) == ["jg_connect4", "jg_connect6", "jg_sendmsg4", "jg_sendmsg6"], sock
    for name in sock["programs"]:
        assert Path(kd.pins, "links", name).exists(), name
    for plane, entry in planes.items():
        if entry["active"]:
            assert entry["errno"] == 0 and entry["programs"], (plane, entry)
        else:
            # never reported active; always an errno and a reason
            assert entry["errno"] != 0 and entry["reason"] and entry["programs"] == [], (plane, entry)
    out = kd.output_text(400)
    for plane, entry in planes.items():
        word = "active" if entry["active"] else f"inactive: errno {entry['errno']}"
        assert f"plane {plane}: {word}" in out, (plane, out)


def test_lsm_plane(kd):
    planes = planes_from_audit(kd)
    lsm = planes["lsm"]
    if not lsm["active"]:
        pytest.skip(f"BPF-LSM does not load here: errno {lsm['errno']}: {lsm['reason']} "
                    "(jg_lsm.bpf.o still compiled; the build fails if it does not)")
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        r = cg.run(open=["/etc/ssl/openssl.cnf", "/etc/hostname"])
    assert r["open"][0] == errno.EPERM and r["open"][1] == 0, r


def test_kernel_keeps_only_bpf_capabilities(kd):
    pid = kd.wait_components()["jg-kernel"]
    assert int(proc_status(pid)["CapEff"], 16) == (1 << 12) | (1 << 38) | (1 << 39)


# ----------------------------------------------------------------------------------------- enforcement

def test_connect_denied_only_inside_the_governed_cgroup(kd, listeners):
    p = listeners.ports
    targets = [[4, DENIED4, p[DENIED4]], [6, "::ffff:" + DENIED4, p[DENIED4]], [4, ALLOWED4, p[ALLOWED4]],
               [6, "::ffff:" + ALLOWED4, p[ALLOWED4]]]
    if DENIED6 in p:
        targets.append([6, DENIED6, p[DENIED6]])
    udp = [[DENIED4, 9], [ALLOWED4, 9]]
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        inside = cg.run(connect=targets, sendto=udp)
    assert "jinnguard" in inside["cgroup"], inside
    # denied: IPv4, IPv4-mapped IPv6, native IPv6; allowed: the other loopback address both ways
    want = [errno.EPERM, errno.EPERM, 0, 0] + ([errno.EPERM] if DENIED6 in p else [])
    assert inside["connect"] == want, inside
    assert inside["sendto"] == [errno.EPERM, 0], inside

    # the same calls from outside any governed cgroup (this test's own cgroup) all succeed
    outside = probe(connect=targets, sendto=udp)
    assert "jinnguard" not in outside["cgroup"]
    assert outside["connect"] == [0] * len(targets), outside
    assert outside["sendto"] == [0, 0], outside

    # another agent's governed cgroup has no such rule
    with Cgroup(Path(kd.agents) / "billing_agent") as cg:
        other = cg.run(connect=targets[:2])
    assert other["connect"] == [0, 0], other


def test_denial_and_telemetry_events_arrive(kd, listeners):
    start = kd.output_len()
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        cg.run(connect=[[4, DENIED4, listeners.ports[DENIED4]], [4, ALLOWED4, listeners.ports[ALLOWED4]]],
               open=["/etc/hostname"], exec=[["/bin/true"]])
    want = [
        r"event kind=exec agent=claims_agent cgroup=\d+ pid=\d+ detail=/bin/true",
        r"event kind=open agent=claims_agent cgroup=\d+ pid=\d+ detail=/etc/hostname",
        rf"event kind=connect agent=claims_agent cgroup=\d+ pid=\d+ detail={re.escape(ALLOWED4)}:{listeners.ports[ALLOWED4]}",
        rf"event kind=deny_connect agent=claims_agent cgroup=\d+ pid=\d+ detail={re.escape(DENIED4)}:{listeners.ports[DENIED4]}",
    ]
    deadline = time.monotonic() + 10
    missing = want
    while missing and time.monotonic() < deadline:
        out = kd.output_since(start)
        missing = [w for w in want if not re.search(w, out)]
        time.sleep(0.1)
    assert not missing, f"missing {missing}:\n{kd.output_since(start)}"
    # nothing from processes outside governed cgroups
    probe(open=["/etc/hostname"])
    time.sleep(0.5)
    outside_pid_events = [l for l in kd.output_since(start).splitlines() if "event kind=" in l and "agent=claims_agent" not in l]
    assert outside_pid_events == [], outside_pid_events


def test_policy_reload_swaps_rules(kd, listeners):
    p = listeners.ports
    new = POLICY.replace(f'"{DENIED4}/32"', f'"{ALLOWED4}"')
    kd.policy.write_text(new)
    start = kd.output_len()
    os.kill(kd.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "rules generation 2" not in kd.output_since(start) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "rules generation 2" in kd.output_since(start), kd.output_since(start)
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        r = cg.run(connect=[[4, DENIED4, p[DENIED4]], [4, ALLOWED4, p[ALLOWED4]], [6, "::ffff:" + ALLOWED4, p[ALLOWED4]]])
    assert r["connect"] == [0, errno.EPERM, errno.EPERM], r


@pytest.mark.slow
def test_pins_keep_enforcing_across_a_kernel_restart(kd, listeners):
    p = listeners.ports
    target = [[4, DENIED4, p[DENIED4]], [6, "::ffff:" + DENIED4, p[DENIED4]], [4, ALLOWED4, p[ALLOWED4]]]
    old = kd.wait_components()["jg-kernel"]
    old_prog = pinned_prog_id(Path(kd.pins, "links", "jg_connect4"))
    start = kd.output_len()
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        # hold the supervisor so that no new jg-kernel starts while we look
        os.kill(kd.proc.pid, signal.SIGSTOP)
        try:
            os.kill(old, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while pid_alive(old) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not pid_alive(old)
            during = cg.run(connect=target)
        finally:
            os.kill(kd.proc.pid, signal.SIGCONT)
        assert during["connect"] == [errno.EPERM, errno.EPERM, 0], f"no jg-kernel running: {during}"
        new = kd.wait_components(timeout=20)["jg-kernel"]
        assert new != old
        deadline = time.monotonic() + 20
        while "adopted" not in kd.output_since(start) and time.monotonic() < deadline:
            time.sleep(0.1)
        out = kd.output_since(start)
        assert re.search(r"plane cgroup_sock_addr: active \(.*4 link\(s\) adopted", out), out
        after = cg.run(connect=target)
        assert after["connect"] == [errno.EPERM, errno.EPERM, 0], after
    # the pinned link now runs the new program, and the old one is no longer attached: replaced, not stacked
    new_prog = pinned_prog_id(Path(kd.pins, "links", "jg_connect4"))
    attached = cgroup_prog_ids(str(Path(kd.cgroup).parent))
    if new_prog is not None and attached is not None:
        assert new_prog != old_prog and new_prog in attached and old_prog not in attached, (old_prog, new_prog, attached)


def pinned_prog_id(pin):
    r = subprocess.run(["bpftool", "-j", "link", "show", "pinned", str(pin)], capture_output=True, text=True)
    return json.loads(r.stdout)["prog_id"] if r.returncode == 0 else None


def cgroup_prog_ids(path):
    r = subprocess.run(["bpftool", "-j", "cgroup", "show", path], capture_output=True, text=True)
    return {x["id"] for x in json.loads(r.stdout or "[]")} if r.returncode == 0 else None


def test_orderly_stop_removes_pins_and_break_glass_detaches(kd, listeners):
    p = listeners.ports
    kernel = Path(JINNGUARD_BIN).resolve().parent / "jg-kernel"
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        assert cg.run(connect=[[4, DENIED4, p[DENIED4]]])["connect"] == [errno.EPERM]
        r = subprocess.run([str(kernel), "detach", kd.instance], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "4 link(s) detached, 0 failed" in r.stdout, r.stdout
    # detach also removed the empty cgroups jg-kernel made: recreate one in the same place
    os.makedirs(Path(kd.agents) / "claims_agent", exist_ok=True)
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        assert cg.run(connect=[[4, DENIED4, p[DENIED4]]])["connect"] == [0]
    assert not Path(kd.pins).exists()
    kd.stop()
    assert not Path(kd.pins).exists()


def test_orderly_stop_tears_down(kd):
    pins = Path(kd.pins)
    assert (pins / "links" / "jg_connect4").exists()
    kd.stop()
    assert not pins.exists()
    assert not Path(kd.cgroup).exists()


def test_kernel_denials_raise_the_agents_observed_risk(kd, listeners):
    """Telemetry reaches the gate: an agent whose processes tried to bypass the socket (and were denied in
    the kernel) is trusted less on its next request through the socket."""
    from e2e_helpers import NONROOT

    def observed(seq):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for l in Path(kd.audit).read_text().splitlines():
                e = json.loads(l)
                if e["intent"].get("sequence_counter") == seq and e["observation"].get("agent_id") == "claims_agent":
                    return e["assessment"]["observed_risk"], e["observation"]["signals"]
            time.sleep(0.05)
        raise AssertionError(f"no audit record for sequence {seq}")

    seq = kd.seq()
    assert kd.token_as(NONROOT, action_risk_score=10, seq=seq) == "ALLOW"
    base, _ = observed(seq)
    with Cgroup(Path(kd.agents) / "claims_agent") as cg:
        got = cg.run(connect=[[4, DENIED4, listeners.ports[DENIED4]]])
    assert got["connect"] == [errno.EPERM], got
    deadline = time.monotonic() + 10
    while True:
        seq = kd.seq()
        kd.token_as(NONROOT, action_risk_score=10, seq=seq)
        risk, signals = observed(seq)
        if any(s.startswith("kernel_denials=") for s in signals) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # observed risk +20 for the kernel's denials (the peer itself is fully observed: 0 before)
    assert any(s.startswith("kernel_denials=") for s in signals), signals
    assert risk == base + 20, (base, risk)
    # other agents are not affected
    assert kd.token_as(NONROOT, agent="billing_agent", context_vars={"spending_ceiling_usd": 1}, action_risk_score=10) == "ALLOW"
