"""Issue 10, item 1 and the file-permission part of item 3: one user per component, no component
dumpable, no key in reach of another uid, and a state directory whose secrets no other uid can read
while agents still reach the socket in it."""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from e2e_helpers import (CHILD_PY, COMPONENTS, JINNGUARD_BIN, NONROOT, Daemon, frame, payload_str,
                         proc_status, proposal, short_dir, token_of)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching to other uids needs root")

NOBODY = 65534
CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID = 0, 5, 6, 7
CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF = 12, 38, 39
EXPECTED_CAPS = {
    "jg-gate": 0,
    "jg-prover": 0,
    "jg-broker": (1 << CAP_CHOWN) | (1 << CAP_KILL) | (1 << CAP_SETGID) | (1 << CAP_SETUID),
    "jg-kernel": (1 << CAP_NET_ADMIN) | (1 << CAP_PERFMON) | (1 << CAP_BPF),
}


def ids(pid: int) -> tuple[list[int], list[int]]:
    st = proc_status(pid)
    return [int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()]


# ------------------------------------------------------------------------------- identities

def test_each_component_runs_as_its_own_user(daemon):
    comps = daemon.wait_components()
    uids, gids = {}, {}
    for name in COMPONENTS:
        u, g = ids(comps[name])
        # real, effective, saved and file-system ids all the same: nothing to switch back to
        assert len(set(u)) == 1 and len(set(g)) == 1, (name, u, g)
        uids[name], gids[name] = u[0], g[0]
        assert uids[name] not in (0, NOBODY, NONROOT), (name, uids[name])
        assert gids[name] not in (0, NOBODY, NONROOT), (name, gids[name])
        # the system user of that name (README: created at start when missing)
        assert pwd.getpwuid(uids[name]).pw_name == name, (name, uids[name])
        groups = proc_status(comps[name])["Groups"].split()
        assert "0" not in groups and str(NOBODY) not in groups, (name, groups)
    assert len(set(uids.values())) == 4, uids
    assert len(set(gids.values())) == 4, gids


def test_capabilities_are_exactly_what_each_component_needs(daemon):
    comps = daemon.wait_components()
    for name, want in EXPECTED_CAPS.items():
        st = proc_status(comps[name])
        for field in ("CapEff", "CapPrm", "CapBnd"):
            assert int(st[field], 16) == want, (name, field, st[field], hex(want))
        assert int(st["CapInh"], 16) == 0 and int(st.get("CapAmb", "0"), 16) == 0, (name, st)


def test_no_component_is_dumpable(daemon):
    """A non-dumpable process's /proc/PID files belong to root whatever its uid (proc(5)); a dumpable
    one's belong to its own uid, so owner 0 on a process that is not uid 0 means PR_SET_DUMPABLE 0."""
    comps = daemon.wait_components()
    for name, pid in comps.items():
        u, _ = ids(pid)
        assert u[0] != 0, (name, u)
        for entry in ("mem", "maps", "environ"):
            owner = os.stat(f"/proc/{pid}/{entry}").st_uid
            assert owner == 0, f"{name}: /proc/{pid}/{entry} owned by {owner}: the process is dumpable"


# ------------------------------------------------------------------------------- the gate's memory

ATTACKER = r'''
import ctypes, errno, hmac, hashlib, json, os, re, socket, struct, sys
cfg = json.loads(sys.stdin.readline())
pid = cfg["pid"]
out = {"uid": os.getuid(), "errors": [], "bytes_read": 0, "candidates": [], "tokens": []}

class IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

libc = ctypes.CDLL(None, use_errno=True)
libc.process_vm_readv.restype = ctypes.c_ssize_t
libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.POINTER(IOVec), ctypes.c_ulong,
                                  ctypes.POINTER(IOVec), ctypes.c_ulong, ctypes.c_ulong]
found = set()
pat = re.compile(rb"e2e-[0-9a-f]{32}")

def scan(b):
    out["bytes_read"] += len(b)
    for m in pat.findall(b):
        found.add(m.decode())

# 1. process_vm_readv over every writable mapping the test (root) saw in /proc/PID/maps
for lo, hi in cfg["regions"]:
    n = hi - lo
    buf = ctypes.create_string_buffer(n)
    local = IOVec(ctypes.cast(buf, ctypes.c_void_p), n)
    remote = IOVec(lo, n)
    r = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if r < 0:
        out["errors"].append(["process_vm_readv", errno.errorcode.get(ctypes.get_errno(), "?")])
    else:
        scan(buf.raw[:r])

# 2. /proc/PID/maps and /proc/PID/mem, as the original attack did
try:
    with open("/proc/%d/maps" % pid) as f:
        f.read()
except OSError as e:
    out["errors"].append(["maps", errno.errorcode.get(e.errno, "?")])
try:
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for lo, hi in cfg["regions"]:
            try:
                scan(os.pread(fd, hi - lo, lo))
            except OSError as e:
                out["errors"].append(["pread mem", errno.errorcode.get(e.errno, "?")])
    finally:
        os.close(fd)
except OSError as e:
    out["errors"].append(["open mem", errno.errorcode.get(e.errno, "?")])

# 3. sign a request of another agent with whatever was found (and one guess), send it
out["candidates"] = sorted(found)[:20]
keys = out["candidates"] + ["e2e-" + "0" * 32]
for i, k in enumerate(keys):
    payload = cfg["payloads"][i]
    sig = hmac.new(k.encode(), payload.encode(), hashlib.sha256).hexdigest()
    body = json.dumps({"payload": payload, "signature": sig}, separators=(",", ":")).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(cfg["socket"])
        s.sendall(struct.pack(">IB", len(body), 1) + body)
        h = s.recv(5)
        n = struct.unpack(">IB", h)[0] if len(h) == 5 else 0
        r = b""
        while len(r) < n:
            c = s.recv(n - len(r))
            if not c:
                break
            r += c
        out["tokens"].append(r.split(b"\n", 1)[0].decode("utf-8", "replace"))
    except OSError as e:
        out["tokens"].append("error " + str(e))
    finally:
        s.close()
print(json.dumps(out))
'''


def writable_regions(pid: int, limit=256 << 20) -> list[list[int]]:
    regions, total = [], 0
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if not parts[1].startswith("rw") or (len(parts) > 5 and parts[5].startswith("[v")):
            continue
        if total + (hi - lo) > limit:
            break
        regions.append([lo, hi])
        total += hi - lo
    return regions


def attack_as(uid: int, d: Daemon, gate: int) -> dict:
    payloads = [payload_str(proposal("claims_agent", "read_customer_record", d.seq(), action_risk_score=10))
                for _ in range(21)]
    cfg = {"pid": gate, "regions": writable_regions(gate), "socket": str(d.socket), "payloads": payloads}
    r = subprocess.run([CHILD_PY, "-c", ATTACKER], input=json.dumps(cfg) + "\n", capture_output=True, text=True,
                       timeout=300, cwd="/", user=uid, group=uid, extra_groups=[])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["uid"] == uid
    return out


def test_no_other_uid_reads_the_gate_memory_or_forges_a_request(daemon):
    comps = daemon.wait_components()
    gate = comps["jg-gate"]
    gate_uid = ids(gate)[0][0]
    # the key is in the gate's memory: the test (root) sees it there, so the attack looks in the right place
    assert daemon.token_as(NONROOT, action_risk_score=10) == "ALLOW"
    others = [NOBODY, NONROOT] + sorted({ids(comps[n])[0][0] for n in ("jg-prover", "jg-broker", "jg-kernel")})
    for uid in others:
        out = attack_as(uid, daemon, gate)
        assert out["bytes_read"] == 0 and out["candidates"] == [], (uid, out["bytes_read"], out["candidates"])
        kinds = {what for what, _ in out["errors"]}
        assert "process_vm_readv" in kinds and "open mem" in kinds, (uid, out["errors"])
        assert all(e in ("EPERM", "EACCES", "ESRCH") for _, e in out["errors"]), (uid, out["errors"])
        assert out["tokens"] and not any(t == "SIGNAL: ALLOW" for t in out["tokens"]), (uid, out["tokens"])
        assert all(t.startswith("SIGNAL: DENY_") for t in out["tokens"]), (uid, out["tokens"])
        assert uid != gate_uid, (uid, gate_uid)
    assert daemon.token_as(NONROOT, action_risk_score=10) == "ALLOW"


# ------------------------------------------------------------------------------- the state directory

class StateDirDaemon(Daemon):
    """`jinnguard run --state-dir DIR` and nothing else: README's default layout (policy, secret,
    socket, audit log, lineage and signing key all in DIR)."""

    def __init__(self, root):
        Path(root).mkdir()
        super().__init__(root)
        self.state = self.sockdir / "state"
        self.socket = self.state / "jinnguard.sock"
        self.audit = self.state / "audit.jsonl"

    def argv(self):
        return [JINNGUARD_BIN, "run", "--state-dir", str(self.state)]

    def key(self) -> bytes:
        return self.state.joinpath("secret").read_bytes().strip()


def try_read_as(uid: int, paths: list[str]) -> dict[str, str]:
    src = ("import json, os, sys\nres = {}\nfor p in json.loads(sys.argv[1]):\n"
           "    try:\n        open(p, 'rb').read(1); res[p] = 'READ'\n"
           "    except IsADirectoryError:\n        os.listdir(p); res[p] = 'READ'\n"
           "    except OSError as e:\n        res[p] = type(e).__name__\n"
           "print(json.dumps(res))\n")
    r = subprocess.run([CHILD_PY, "-c", src, json.dumps(paths)], capture_output=True, text=True, timeout=60,
                       cwd="/", user=uid, group=uid, extra_groups=[])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_state_directory_secrets_unreadable_by_other_uids(tmp_path):
    d = StateDirDaemon(tmp_path / "sd")
    try:
        d.start()
        comps = d.wait_components()
        st = d.state
        secrets = ["policy.yaml", "secret", "audit-signing.key", "lineage.state", "audit.jsonl",
                   "audit.jsonl.manifests", "audit.jsonl.sealed"]
        for name in secrets:
            assert (st / name).exists(), name
        # a request that reaches the broker, so the sealed store has a subject and the log a record
        from e2e_helpers import send_as
        body = send_as(NONROOT, d.socket, [d.frame_for(key=d.key(), action_risk_score=10, context_vars={"spending_ceiling_usd": 20})])[0]
        assert token_of(body) == "ALLOW", body
        readers = [NONROOT, NOBODY] + [ids(comps[n])[0][0] for n in ("jg-gate", "jg-prover", "jg-kernel")]
        targets = [str(st / n) for n in secrets] + [str(st)]
        for uid in readers:
            res = try_read_as(uid, targets)
            leaked = {p: v for p, v in res.items() if v == "READ"}
            assert not leaked, (uid, leaked)
        # modes and owners: the directory can be traversed (the socket) but not listed
        mode = stat.S_IMODE(os.stat(st).st_mode)
        assert mode & 0o077 == 0o011, oct(mode)
        for name in ("policy.yaml", "secret", "lineage.state"):
            m = os.stat(st / name)
            assert stat.S_IMODE(m.st_mode) == 0o600, (name, oct(m.st_mode))
        broker_uid = ids(comps["jg-broker"])[0][0]
        for name in ("audit-signing.key", "audit.jsonl", "audit.jsonl.manifests", "audit.jsonl.sealed"):
            m = os.stat(st / name)
            assert m.st_uid == broker_uid, (name, m.st_uid, broker_uid)
            assert stat.S_IMODE(m.st_mode) & 0o077 == 0, (name, oct(m.st_mode))
        # and uid-10001 agents still reach the socket by its README path
        assert token_of(send_as(NONROOT, d.socket, [d.frame_for(key=d.key(), action_risk_score=10, context_vars={"spending_ceiling_usd": 20})])[0]) == "ALLOW"
    finally:
        try:
            d.stop(check=True)
        finally:
            d.cleanup()


def test_existing_state_directory_is_tightened_on_start(tmp_path):
    """A state directory left by an older version (0755, policy 0644) is brought to the new modes."""
    d = StateDirDaemon(tmp_path / "old")
    d.state.mkdir(mode=0o755)
    os.chmod(d.state, 0o755)
    d.state.joinpath("policy.yaml").write_text(d.policy.read_text())
    os.chmod(d.state / "policy.yaml", 0o644)
    try:
        d.start()
        assert stat.S_IMODE(os.stat(d.state).st_mode) & 0o077 == 0o011
        assert stat.S_IMODE(os.stat(d.state / "policy.yaml").st_mode) == 0o600
        res = try_read_as(NONROOT, [str(d.state / "policy.yaml")])
        assert res[str(d.state / "policy.yaml")] != "READ", res
    finally:
        try:
            d.stop(check=True)
        finally:
            d.cleanup()


def test_policy_naming_a_component_uid_as_an_agent_is_refused(daemon_factory):
    """A component's user is never an agent's: a policy that would admit one as a peer does not load."""
    from e2e_helpers import policy_with
    first = daemon_factory()
    gate_uid = ids(first.wait_components()["jg-gate"])[0][0]
    claims = "allowed_peer_uids: []\n    allowed_intents: [read_customer_record, summarize_claim, list_claims]"
    policy = policy_with(**{claims: claims.replace("[]", f"[{gate_uid}]", 1)})
    assert f"[{gate_uid}]" in policy
    out = daemon_factory(policy=policy, start=False).expect_refusal()
    assert f"peer uid {gate_uid}" in out and "jg-gate" in out, out
