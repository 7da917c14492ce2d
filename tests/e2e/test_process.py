"""Process layout: four components, four executables, the gate unprivileged."""

import os
import pwd
from pathlib import Path

from e2e_helpers import COMPONENTS, proc_status


def test_four_components_four_executables(daemon):
    comps = daemon.wait_components()
    assert set(comps) == set(COMPONENTS), comps
    exes = {name: os.readlink(f"/proc/{pid}/exe") for name, pid in comps.items()}
    assert len(set(exes.values())) == 4, exes
    assert {os.path.basename(e) for e in exes.values()} == set(COMPONENTS), exes
    assert len(set(comps.values())) == 4
    sup = os.path.basename(os.readlink(f"/proc/{daemon.proc.pid}/exe"))
    assert sup == "jinnguard", sup


def test_gate_unprivileged(daemon):
    gate = daemon.wait_components()["jg-gate"]
    st = proc_status(gate)
    # its own user (DESIGN.md §1), not the shared nobody
    own = pwd.getpwnam("jg-gate")
    assert st["Uid"].split() == [str(own.pw_uid)] * 4 and own.pw_uid not in (0, 65534), st["Uid"]
    assert st["Gid"].split() == [str(own.pw_gid)] * 4 and own.pw_gid not in (0, 65534), st["Gid"]
    assert st["CapEff"] == "0000000000000000", st["CapEff"]
    assert st["CapPrm"] == "0000000000000000", st["CapPrm"]
    assert st.get("CapAmb", "0000000000000000") == "0000000000000000"
    assert st["NoNewPrivs"] == "1"


def test_gate_seccomp_filter(daemon):
    gate = daemon.wait_components()["jg-gate"]
    st = proc_status(gate)
    assert st.get("Seccomp") == "2", f"gate seccomp mode {st.get('Seccomp')} (DESIGN §1: seccomp filter)"


def test_no_component_runs_as_root_except_as_needed(daemon):
    comps = daemon.wait_components()
    for name in ("jg-gate", "jg-prover"):
        st = proc_status(comps[name])
        assert st["Uid"].split()[0] != "0", (name, st["Uid"])
        assert st["CapEff"] == "0000000000000000", (name, st["CapEff"])


def test_prover_sandboxed(daemon):
    """The prover runs as its own user, with no capabilities, an empty root and a seccomp filter."""
    prover = daemon.wait_components()["jg-prover"]
    st = proc_status(prover)
    own = pwd.getpwnam("jg-prover")
    assert st["Uid"].split() == [str(own.pw_uid)] * 4 and own.pw_uid not in (0, 65534), st["Uid"]
    assert st["CapEff"] == "0000000000000000" and st["CapBnd"] == "0000000000000000", st
    assert st["NoNewPrivs"] == "1"
    assert st.get("Seccomp") == "2", st.get("Seccomp")
    # chrooted into the empty directory: its root is not the host's root
    assert os.readlink(f"/proc/{prover}/root") != "/", os.readlink(f"/proc/{prover}/root")
    assert os.listdir(f"/proc/{prover}/root") == []


def test_broker_and_kernel_keep_only_their_capabilities(daemon):
    comps = daemon.wait_components()
    def caps(pid):
        return int(proc_status(pid)["CapEff"], 16)
    # jg-kernel: CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39)
    assert caps(comps["jg-kernel"]) == (1 << 12) | (1 << 38) | (1 << 39), hex(caps(comps["jg-kernel"]))
    # jg-broker: CAP_CHOWN (0), CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7)
    assert caps(comps["jg-broker"]) == (1 << 0) | (1 << 5) | (1 << 6) | (1 << 7), hex(caps(comps["jg-broker"]))


def test_status_command_lists_components_and_planes(daemon):
    import subprocess
    from e2e_helpers import JINNGUARD_BIN
    import time
    state = str(daemon.sockdir / "state")
    deadline = time.monotonic() + 10
    while True:
        r = subprocess.run([JINNGUARD_BIN, "status", "--state-dir", state], capture_output=True, text=True, timeout=30)
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("jg-gate", "jg-prover", "jg-kernel", "jg-broker"):
        assert name in r.stdout
    # Every plane says active or inactive, and an inactive one says why.
    lines = r.stdout.splitlines()
    start = lines.index("  kernel planes:")
    planes = []
    for l in lines[start + 1:]:
        if not l.startswith("    "):
            break
        planes.append(l.strip())
    assert any(l.startswith("lsm:") for l in planes), r.stdout
    for l in planes:
        assert ": active" in l or ("inactive (errno" in l), l
    daemon.stop(check=True)
    r = subprocess.run([JINNGUARD_BIN, "status", "--state-dir", state], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stdout
