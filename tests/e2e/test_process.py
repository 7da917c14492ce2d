"""Process layout: four components, four executables, the gate unprivileged."""

import os
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
    assert st["Uid"].split() == ["65534"] * 4, st["Uid"]
    assert st["Gid"].split()[0] != "0", st["Gid"]
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
