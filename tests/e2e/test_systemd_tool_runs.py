"""Tool runs and the kernel plane under a REAL systemd (the container of test_systemd_units.py): an executed
shell request through /run/jinnguard/jinnguard.sock runs in the full sandbox (every layer, or a DENY_),
in a run cgroup jg-kernel governs from the start (its cgroup program denies the policy's destinations),
and jg-kernel's pins survive `systemctl restart jg-kernel` (adopted: the programs are replaced in place)."""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest

from e2e_helpers import ALLOWED, envelope_bytes, exchange, frame, payload_str, proposal, token_of
from jinnguard import parse_reply
from test_systemd_units import COMPONENT_UNITS, POLICY, Container, nspawn_unavailable

DENIED4 = "127.0.0.2"
# The tool's own network namespace has its loopback down: a datagram to anywhere is ENETUNREACH, unless
# jg-kernel's cgroup program refuses the destination first (EPERM).
ENETUNREACH, EPERM = 101, 1

TOOL_POLICY = POLICY + f"""\
  - id: tool_agent
    privilege_tier: 1
    tool_limits: {{timeout_seconds: 5, output_bytes: 4096, workspace_mb: 8}}
    allowed_peer_uids: []
    allowed_intents: [run_tool]
    allowed_executables: []
    max_sequence_quota: 0
    denied_destinations: ["{DENIED4}/32"]
    invariants: []
"""

# Every layer the embedded daemon applies to a tool run (test_sandbox.py).
LAYERS = {"userns", "mountns", "pidns", "netns", "ipcns", "view", "landlock_fs", "landlock_net", "landlock_scope",
          "seccomp", "cgroup", "private_tmp", "proc"}

SENDTO = ("python3 -c \"import socket\nfor a in ('" + DENIED4 + "', '127.0.0.1'):\n"
          "  s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "  try: s.sendto(b'x', (a, 9)); print(a, 0)\n"
          "  except OSError as e: print(a, e.errno)\"")


@pytest.fixture(scope="module")
def tbox():
    why = nspawn_unavailable()
    if why:
        pytest.skip(why)
    c = Container(f"jgtr{os.getpid()}")
    r = c.run("start", check=False)
    if r.returncode != 0:
        c.run("stop", check=False)
        pytest.skip(f"systemd-nspawn cannot boot a container here: {r.stderr.strip()[-400:]}")
    c.leader = int(r.stdout.strip().split()[-1])
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(TOOL_POLICY)
        c.run("install", f.name)
        os.unlink(f.name)
        c.ctl("start", "--no-block", "jinnguard.target")
        c.wait_active(["jinnguard.service", "jinnguard.socket", *COMPONENT_UNITS])
        c.wait_allow(10)
        yield c
    finally:
        c.run("stop", check=False)


def shell(c: Container, command: str, timeout=10.0):
    key = c.host("/etc/jinnguard/secret").read_bytes().strip()
    with c.lock:
        c.seq += 1
        seq = c.seq
    p = payload_str(proposal("tool_agent", "run_tool", seq, execute=True,
                             proposed_action={"kind": "shell_command", "command": command}))
    body = exchange(str(c.host("/run/jinnguard/jinnguard.sock")), frame(envelope_bytes(p, key)), timeout)
    assert body is not None, f"no reply to {command!r}\n{c.journal()}"
    r = parse_reply(body)
    if token_of(body) in ALLOWED:
        with c.lock:
            c.allowed.add(seq)
    return r, token_of(body)


def last_execution(c: Container) -> dict:
    for line in reversed(c.host("/var/lib/jinnguard/audit.jsonl").read_text().splitlines()):
        e = json.loads(line)
        if (e.get("intent") or {}).get("class") == "Execution":
            return e["decision"]
    raise AssertionError("no Execution record")


def test_a_tool_run_under_systemd_is_allowed_with_every_layer(tbox):
    r, tok = shell(tbox, "echo hi; stat -f -c %T .")
    assert tok in ALLOWED, f"{tok}\n{tbox.journal()}"
    assert r.result and r.result.get("executed"), r
    out = r.result["stdout"].split("\n")
    assert out[0] == "hi", r.result
    # The run's directory is the agent's workspace image (a loop-mounted ext4), not the directory below it.
    assert out[1] in ("ext2/ext3", "ext4"), r.result
    d = last_execution(tbox)
    assert LAYERS <= set(d["sandbox"]), d
    assert not d.get("sandbox_missing"), d


def test_the_kernel_plane_enforces_on_tool_runs_under_systemd(tbox):
    r, tok = shell(tbox, SENDTO)
    assert tok in ALLOWED, f"{tok}\n{tbox.journal()}"
    got = dict(line.split() for line in r.result["stdout"].strip().split("\n"))
    # EPERM only for the policy's denied destination: jg-kernel's cgroup program, not seccomp or Landlock.
    assert got == {DENIED4: str(EPERM), "127.0.0.1": str(ENETUNREACH)}, (got, tbox.journal())
    assert "kernel_governed" in last_execution(tbox)["sandbox"]


def kernel_links(c: Container) -> dict[str, int]:
    """The cgroup links jg-kernel pinned (the enforcing ones): name -> inode of the pin (a new pin, a new
    inode). The container has a bpffs of its own (run-units.sh), so these are this daemon's only."""
    root = c.host("/sys/fs/bpf/jinnguard")
    found = {}
    for pin in root.rglob("*"):
        if pin.parent.name == "links" and pin.name.startswith(("jg_connect", "jg_sendmsg")):
            found[str(pin.relative_to(root))] = pin.stat().st_ino
    return found


def test_restarting_jg_kernel_hands_its_pins_over(tbox):
    before = kernel_links(tbox)
    # Both attachments: <cgroup2>/jinnguard and the slice holding jg-broker.service.
    assert len(before) == 8, before
    pid = tbox.mainpid("jg-kernel")
    tbox.ctl("restart", "jg-kernel")
    tbox.wait_active(["jg-kernel"])
    assert tbox.mainpid("jg-kernel") != pid
    # The same pins (the links kept enforcing across the restart), taken over by the new jg-kernel.
    assert kernel_links(tbox) == before
    log = tbox.run("exec", "journalctl", "--no-pager", "-u", "jg-kernel", "-n", "30", check=False).stdout
    assert "adopted from pins" in log, log
    r, tok = shell(tbox, SENDTO)
    assert tok in ALLOWED, tok
    assert f"{DENIED4} {EPERM}" in r.result["stdout"], r.result


def test_after_a_rendezvous_restart_tool_runs_still_get_every_layer(tbox):
    # jinnguard.service restarted: the components lose their control link and are restarted with it
    # (docs/deployment.md); the new broker reopens its state directory in its own namespace again, and its
    # runs are governed again.
    pid = tbox.mainpid("jinnguard.service")
    tbox.ctl("restart", "jinnguard.service")
    tbox.wait_active(["jinnguard.service", *COMPONENT_UNITS])
    assert tbox.mainpid("jinnguard.service") != pid
    tbox.wait_allow(10)
    deadline = time.monotonic() + 10
    while True:
        r, tok = shell(tbox, SENDTO)
        if tok in ALLOWED and f"{DENIED4} {EPERM}" in r.result["stdout"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert tok in ALLOWED, (tok, tbox.journal())
    assert f"{DENIED4} {EPERM}" in r.result["stdout"], (r.result, tbox.journal())
    d = last_execution(tbox)
    assert LAYERS | {"kernel_governed"} <= set(d["sandbox"]), d


def test_no_allow_without_its_audit_record(tbox):
    assert tbox.allowed and not tbox.unaudited_allows(), sorted(tbox.unaudited_allows())
