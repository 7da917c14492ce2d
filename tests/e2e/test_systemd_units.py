"""Jinn Guard as systemd units (deploy/units/) under a REAL systemd: PID 1 of a throw-away systemd-nspawn
container booted from this host's own tree (tests/systemd/nspawn.sh; nothing written inside reaches the
host). `make install-files` puts the build into it; the tests drive it through the agent socket and
systemctl, and read /proc inside. Where nspawn cannot run they skip with the reason; the offline
`systemd-analyze verify` / `security --threshold` checks run everywhere systemd-analyze exists."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from e2e_helpers import ALLOWED, REPO, envelope_bytes, exchange, frame, payload_str, proposal, token_of

RUN_UNITS = REPO / "tests" / "systemd" / "run-units.sh"
UNITS = REPO / "deploy" / "units"
BIN = Path(os.environ.get("JINNGUARD_BIN", str(REPO / ".build" / "debug" / "jinnguard"))).parent
COMPONENT_UNITS = ("jg-gate", "jg-prover", "jg-broker", "jg-kernel")
# Exactly the capabilities each component keeps (README "What runs").
CAPS = {"jg-gate": 0, "jg-prover": 0, "jg-broker": (1 << 0) | (1 << 5) | (1 << 6) | (1 << 7),
        "jg-kernel": (1 << 12) | (1 << 38) | (1 << 39)}

POLICY = """\
global_safety_ceiling: 90.0
deny_anonymous_agents: true
canary_resources: ["canary_decoy_a91f"]
enforcement_scope: {governed_path_prefixes: []}
runtime_policy: {deny_root_peers: false, allowed_peer_uids: [], require_brokered_execution: false, require_sandbox_namespace: false}
agent_nodes:
  - id: claims_agent
    privilege_tier: 1
    tool_limits: {workspace_mb: 8}
    allowed_peer_uids: []
    allowed_intents: [read_customer_record]
    allowed_executables: []
    max_sequence_quota: 0
    invariants: ["fused_risk <= 89.0"]
"""


def nspawn_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn)"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn not installed (apt-get install systemd-container)"
    if shutil.which("nsenter") is None or shutil.which("unshare") is None:
        return "util-linux nsenter/unshare missing"
    return None


class Container:
    def __init__(self, name: str):
        self.name = name
        self.leader = None
        self.seq = 0
        self.allowed: set[int] = set()
        self.lock = threading.Lock()

    def run(self, action, *args, check=True, timeout=60):
        r = subprocess.run([str(RUN_UNITS), action, self.name, *args], capture_output=True, text=True,
                           timeout=timeout, env={**os.environ, "INSTALL_BIN": str(BIN)})
        if check and r.returncode != 0:
            raise AssertionError(f"{action} {args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def sh(self, cmd, check=True):
        return self.run("exec", "sh", "-c", cmd, check=check).stdout

    def ctl(self, *args, check=True):
        return self.run("exec", "systemctl", "--no-pager", *args, check=check)

    def show(self, unit, prop):
        return self.ctl("show", "-p", prop, "--value", unit).stdout.strip()

    def mainpid(self, unit) -> int:
        return int(self.show(unit, "MainPID") or 0)

    def host(self, path) -> Path:
        return Path(f"/proc/{self.leader}/root{path}")

    def journal(self, lines=60):
        return self.run("exec", "journalctl", "--no-pager", "-n", str(lines), "-u", "jinnguard.service",
                        *sum((["-u", u] for u in COMPONENT_UNITS), []), check=False).stdout

    # -- the agent socket ---------------------------------------------------------------------------------
    def request(self, timeout=5.0) -> str | None:
        key = self.host("/etc/jinnguard/secret").read_bytes().strip()
        with self.lock:
            self.seq += 1
            seq = self.seq
        p = payload_str(proposal("claims_agent", "read_customer_record", seq))
        tok = token_of(exchange(str(self.host("/run/jinnguard/jinnguard.sock")), frame(envelope_bytes(p, key)), timeout))
        if tok in ("ALLOW", "CONSTRAIN"):
            with self.lock:
                self.allowed.add(seq)
        return tok

    def wait_allow(self, limit) -> float:
        """Seconds until a request is allowed again; fails past `limit`."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < limit:
            last = self.request(timeout=max(0.2, limit - (time.monotonic() - t0)))
            if last in ("ALLOW", "CONSTRAIN"):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise AssertionError(f"no ALLOW within {limit} s (last token {last})\n{self.journal()}")

    def wait_active(self, units, limit=30.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            states = {u: self.show(u, "ActiveState") for u in units}
            if all(s == "active" for s in states.values()):
                return
            time.sleep(0.1)
        raise AssertionError(f"units not active: {states}\n{self.journal()}")

    def unaudited_allows(self) -> set[int]:
        """Sequence counters answered ALLOW/CONSTRAIN with no such record in the audit log."""
        audited = set()
        for line in self.host("/var/lib/jinnguard/audit.jsonl").read_text().splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            if (d.get("decision") or {}).get("verdict") in ALLOWED:
                audited.add((d.get("intent") or {}).get("sequence_counter"))
        return self.allowed - audited


@pytest.fixture(scope="module")
def box():
    why = nspawn_unavailable()
    if why:
        pytest.skip(why)
    c = Container(f"jgsd{os.getpid()}")
    r = c.run("start", check=False)
    if r.returncode != 0:
        c.run("stop", check=False)
        pytest.skip(f"systemd-nspawn cannot boot a container here: {r.stderr.strip()[-400:]}")
    c.leader = int(r.stdout.strip().split()[-1])
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(POLICY)
        c.run("install", f.name)
        os.unlink(f.name)
        c.ctl("start", "--no-block", "jinnguard.target")
        c.wait_active(["jinnguard.service", "jinnguard.socket", *COMPONENT_UNITS])
        c.wait_allow(10)
        yield c
    finally:
        c.run("stop", check=False)


def test_target_starts_and_allows_a_legitimate_request(box):
    assert box.request() in ALLOWED
    # Type=notify: each unit announced readiness itself (STATUS= comes from the component).
    for u in COMPONENT_UNITS:
        assert box.show(u, "Type") == "notify"
        assert box.show(u, "StatusText").startswith("configured"), box.show(u, "StatusText")
    # `jinnguard status` finds the installed state directory by default.
    out = box.run("exec", "jinnguard", "status", check=False).stdout
    assert "healthy" in out and "UNHEALTHY" not in out, out


def test_each_unit_runs_as_its_own_user_with_exactly_its_capabilities(box):
    for u in COMPONENT_UNITS:
        pid = box.mainpid(u)
        st = dict(line.split(":", 1) for line in box.sh(f"cat /proc/{pid}/status").splitlines() if ":" in line)
        uid = int(box.sh(f"id -u {u}").strip())
        assert st["Uid"].split() == [str(uid)] * 4, (u, st["Uid"])
        assert int(st["CapEff"], 16) == CAPS[u], (u, st["CapEff"])
        assert int(st["CapPrm"], 16) == CAPS[u], (u, st["CapPrm"])
        assert int(st["CapAmb"], 16) == 0, (u, st["CapAmb"])
        assert st["NoNewPrivs"].strip() == "1", u
        assert st["Seccomp"].strip() == "2", u


def test_a_peer_that_is_not_the_component_user_is_refused_by_the_rendezvous(box):
    # root (not jg-gate) claims to be jg-gate: SO_PEERCRED gives it away; the running gate keeps its link.
    before = box.mainpid("jg-gate")
    out = box.sh("timeout 5 /usr/lib/jinnguard/jg-gate --systemd 2>&1; true")
    assert "started as uid 0" in out, out
    # A connection that only claims the name is refused by the rendezvous itself.
    box.sh("python3 -c \"import socket,struct;s=socket.socket(socket.AF_UNIX);s.connect('/run/jinnguard/link.sock');"
           "b=bytes([20])+struct.pack('>I',7)+b'jg-gate'+struct.pack('>I',1);"
           "s.sendall(struct.pack('>I',len(b))+bytes([1])+b);print(s.recv(10))\"", check=False)
    assert "refused a connection" in box.journal(200)
    assert box.mainpid("jg-gate") == before
    assert box.request() in ALLOWED


def test_restarting_each_component_leaves_the_others_running(box):
    for unit in COMPONENT_UNITS:
        pids = {u: box.mainpid(u) for u in (*COMPONENT_UNITS, "jinnguard.service")}
        tokens: list[str | None] = []
        stop = threading.Event()

        slowest = [0.0]

        def hammer():
            # Every request is accounted for: an unanswered one (timeout, reset) is a failure, not a warning.
            # The limit is well past the gate's own reply deadline (ReplyDeadline: prover 2 s + decision 3 s),
            # by which every request has its answer, DENY_ at worst.
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    tokens.append(box.request(timeout=10))
                except OSError as e:
                    tokens.append(f"UNANSWERED ({type(e).__name__}: {e})")
                slowest[0] = max(slowest[0], time.monotonic() - t0)

        t = threading.Thread(target=hammer)
        t.start()
        box.ctl("restart", unit)
        back = box.wait_allow(3.0)
        stop.set()
        t.join()
        after = {u: box.mainpid(u) for u in pids}
        assert after[unit] != pids[unit], f"{unit} was not restarted"
        for u in pids:
            if u != unit:
                assert after[u] == pids[u], f"restart of {unit} restarted {u} ({pids[u]} -> {after[u]})"
        # In the gap: a DENY_ token, or the request waited (queued on systemd's socket, or answered by a
        # stopping gate that drains) — never a connection closed unanswered, never anything else.
        bad = [x for x in tokens if x not in ALLOWED and not str(x).startswith("DENY_")]
        assert not bad, (unit, bad)
        print(f"{unit}: back after {back:.2f} s, {len(tokens)} requests meanwhile (slowest answered in "
              f"{slowest[0]:.2f} s): {sorted(set(map(str, tokens)))}")
    # Never an ALLOW without its audit record.
    assert box.allowed and not box.unaudited_allows(), sorted(box.unaudited_allows())


def test_a_killed_component_is_restarted_by_systemd(box):
    for unit in COMPONENT_UNITS:
        before = box.mainpid(unit)
        n = int(box.show(unit, "NRestarts"))
        box.ctl("kill", "-s", "KILL", unit)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid = box.mainpid(unit)
            if pid not in (0, before) and box.show(unit, "ActiveState") == "active":
                break
            time.sleep(0.1)
        assert box.mainpid(unit) not in (0, before), f"{unit} not restarted\n{box.journal()}"
        assert int(box.show(unit, "NRestarts")) > n
        box.wait_allow(10)


def test_a_stopped_component_is_restarted_by_the_watchdog(box):
    unit = "jg-prover"
    before = box.mainpid(unit)
    assert box.show(unit, "WatchdogUSec") not in ("0", "infinity", "")
    box.sh(f"kill -STOP {before}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and box.mainpid(unit) in (0, before):
        time.sleep(0.2)
    assert box.mainpid(unit) not in (0, before), f"watchdog did not restart {unit}\n{box.journal()}"
    assert "watchdog" in box.journal(400).lower()
    box.wait_allow(10)


def test_audit_log_verifies_after_all_of_it(box):
    assert box.request() in ALLOWED
    out = box.run("exec", "jinnguard", "audit", "verify", check=False)
    assert out.returncode == 0 and "chain intact" in out.stdout, out.stdout + out.stderr
    assert box.allowed and not box.unaudited_allows(), sorted(box.unaudited_allows())


# -- offline checks: no container needed --------------------------------------------------------------------

def staged_units(tmp: Path) -> Path:
    """The units with ExecStart= pointing at this build (verify refuses a missing binary)."""
    d = tmp / "units"
    d.mkdir()
    for u in UNITS.iterdir():
        (d / u.name).write_text(u.read_text().replace("/usr/lib/jinnguard/", f"{BIN}/"))
    return d


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_verify(tmp_path):
    d = staged_units(tmp_path)
    units = sorted(str(p) for p in d.iterdir())
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    # Offline verify complains about users it cannot resolve and the host's own units; nothing of ours.
    ours = [l for l in (r.stdout + r.stderr).splitlines() if str(d) in l or "jinnguard" in l or "jg-" in l]
    assert not ours, "\n".join(ours)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit,threshold", [("jg-gate.service", 2.0), ("jg-prover.service", 2.0),
                                            ("jg-kernel.service", 2.0), ("jg-broker.service", 4.5),
                                            ("jinnguard.service", 6.0)])
def test_units_security_exposure(tmp_path, unit, threshold):
    d = staged_units(tmp_path)
    # systemd's --threshold counts tenths of the exposure level (2.0 -> 20).
    r = subprocess.run(["systemd-analyze", "security", "--no-pager", "--offline=yes", f"--threshold={round(threshold * 10)}",
                        str(d / unit)], capture_output=True, text=True)
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert score, r.stdout + r.stderr
    print(f"{unit}: exposure {score.group(1)}")
    assert r.returncode == 0, f"{unit} exposure {score.group(1) if score else '?'} above {threshold}"


def test_deb_installs_and_runs_in_a_fresh_container(tmp_path):
    """`make deb-package` (what `make deb` runs after its release build) from this build: dpkg -i in a
    container that has none of it, and the postinst leaves the target running and answering."""
    why = nspawn_unavailable() or (None if shutil.which("dpkg-deb") else "dpkg-deb missing")
    if why:
        pytest.skip(why)
    r = subprocess.run(["make", "-s", "-C", str(REPO), "deb-package", f"DEB_BIN={BIN}", f"DEB_OUT={tmp_path}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    debs = list(tmp_path.glob("jinnguard_*.deb"))
    assert len(debs) == 1, debs
    c = Container(f"jgdeb{os.getpid()}")
    r = c.run("start", check=False)
    if r.returncode != 0:
        c.run("stop", check=False)
        pytest.skip(f"systemd-nspawn cannot boot a container here: {r.stderr.strip()[-400:]}")
    c.leader = int(r.stdout.strip().split()[-1])
    try:
        # The host tree may carry an installed copy; the container starts from none of it.
        c.sh("rm -rf /usr/lib/jinnguard /etc/jinnguard /var/lib/jinnguard /usr/lib/systemd/system/jg-*.service "
             "/usr/lib/systemd/system/jinnguard.* /lib/systemd/system/jg-*.service /lib/systemd/system/jinnguard.*")
        shutil.copy(debs[0], c.host("/tmp/jinnguard.deb"))
        out = c.run("exec", "dpkg", "-i", "/tmp/jinnguard.deb", check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        c.wait_active(["jinnguard.service", "jinnguard.socket", *COMPONENT_UNITS])
        assert oct(c.host("/etc/jinnguard/secret").stat().st_mode & 0o777) == "0o600"
        assert c.run("exec", "jinnguard", "policy", "check", check=False).returncode == 0
        # The operator's path: edit the policy, `systemctl reload jinnguard` (SIGHUP), served at once.
        c.host("/etc/jinnguard/policy.yaml").write_text(POLICY)
        c.ctl("reload", "jinnguard.service")
        c.wait_allow(10)
        assert c.show("jinnguard.target", "UnitFileState") == "enabled"
    finally:
        c.run("stop", check=False)
