"""A state directory below a private (0700 root) directory, as `make run` in a clone under /root makes it.

The components run as their own users, which may not search such a parent. The daemon must still start,
decide, execute tools in the agent's workspace and write its audit log there — without the parent's mode
being loosened: the supervisor hands jg-broker the directories as descriptors."""

import os
import pwd
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

import pytest

from e2e_helpers import Daemon, JINNGUARD_BIN, stop_all


class PrivateStateDaemon(Daemon):
    """A Daemon whose state directory (and, optionally, audit log directory) sits below a 0700 parent."""

    def __init__(self, root: Path, audit_dir: Path | None = None, **kw):
        super().__init__(root, **kw)
        self.private = Path(tempfile.mkdtemp(prefix="jgpriv-", dir="/tmp"))
        os.chmod(self.private, 0o700)
        self.state = self.private / "clone" / "jinnguard-state"
        self.state.parent.mkdir(mode=0o700)
        self.audit = (audit_dir or self.state) / "audit.jsonl"

    def argv(self):
        args = super().argv()
        i = args.index("--state-dir")
        args[i + 1] = str(self.state)
        args[args.index("--audit-log") + 1] = str(self.audit)
        return args

    def cleanup(self):
        super().cleanup()
        shutil.rmtree(self.private, ignore_errors=True)


@pytest.fixture
def make_private(tmp_path):
    if not os.path.exists(JINNGUARD_BIN):
        pytest.fail(f"daemon binary not found: {JINNGUARD_BIN} (set JINNGUARD_BIN)")
    made = []

    def make(**kw):
        root = tmp_path / f"p{len(made)}"
        root.mkdir()
        d = PrivateStateDaemon(root, **kw)
        made.append(d)
        return d

    yield make
    stop_all(made)


def exercise(d: PrivateStateDaemon):
    c = d.client()
    r = c.propose("claims_agent", "read_customer_record", d.seq())
    assert r.token in ("ALLOW", "CONSTRAIN"), r
    r = c.propose("exec_agent", "run_echo", d.seq(),
                  proposed_action={"kind": "shell_command", "command": "echo private-parent"}, execute=True)
    assert r.token in ("ALLOW", "CONSTRAIN"), r
    assert r.result is not None and r.result.get("executed") is True, r
    assert r.result.get("stdout") == "private-parent\n", r
    target = d.state / "workspace" / "exec_agent" / "pp-out.txt"
    r = c.propose("exec_agent", "write_temp", d.seq(),
                  proposed_action={"kind": "file_write", "path": str(target), "contents": "written"}, execute=True)
    assert r.token in ("ALLOW", "CONSTRAIN"), r
    assert r.result is not None and r.result.get("executed") is True, r
    assert r.result.get("path") == str(target), r
    assert target.read_text() == "written"


def check_audit(d: PrivateStateDaemon):
    lines = d.wait_audit_count(3)
    assert len(lines) >= 3, f"audit log {d.audit} has {len(lines)} lines"
    v = d.cli("audit", "verify", str(d.audit))
    assert v.returncode == 0, v.stdout + v.stderr


def test_state_dir_below_private_parent(make_private):
    d = make_private()
    d.start()
    exercise(d)
    check_audit(d)
    # Names, not access paths, wherever the daemon tells where things are.
    ready = [l for l in d.output_since(0).splitlines() if l.startswith("jinnguard: ready")][-1]
    assert f"workspace={d.state}/workspace" in ready, ready
    assert "/proc/self/fd" not in d.audit.read_text()
    # Nothing above the state directory was opened up.
    assert stat.S_IMODE(os.stat(d.private).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d.state.parent).st_mode) == 0o700
    d.stop()
    # A restart reaches the same files (signing key, audit log) the same way.
    d.start()
    exercise(d)
    check_audit(d)


def test_audit_log_in_other_private_directory(make_private, daemon_factory):
    try:
        broker = pwd.getpwnam("jg-broker")
    except KeyError:
        # The component users are created at the first start.
        daemon_factory()
        broker = pwd.getpwnam("jg-broker")
    audit_parent = Path(tempfile.mkdtemp(prefix="jgaud-", dir="/tmp"))
    try:
        os.chmod(audit_parent, 0o700)
        audit_dir = audit_parent / "audit"
        audit_dir.mkdir(mode=0o700)
        os.chown(audit_dir, broker.pw_uid, broker.pw_gid)
        d = make_private(audit_dir=audit_dir)
        d.start()
        exercise(d)
        check_audit(d)
        assert stat.S_IMODE(os.stat(audit_parent).st_mode) == 0o700
    finally:
        shutil.rmtree(audit_parent, ignore_errors=True)


def test_unwritable_audit_directory_still_refused(make_private):
    """Reaching by descriptor gets around the parents only: a directory jg-broker may not write is refused."""
    audit_parent = Path(tempfile.mkdtemp(prefix="jgaud-", dir="/tmp"))
    try:
        os.chmod(audit_parent, 0o700)
        audit_dir = audit_parent / "audit"
        audit_dir.mkdir(mode=0o755)  # root's: jg-broker may search it but not create files
        d = make_private(audit_dir=audit_dir)
        out = d.expect_refusal()
        assert f"cannot write the audit log's directory {audit_dir}" in out, out
        assert "/proc/self/fd" not in out, out
    finally:
        shutil.rmtree(audit_parent, ignore_errors=True)


def test_restarted_broker_reaches_the_state_again(make_private):
    """A jg-broker restarted alone gets the descriptors again (the supervisor keeps them)."""
    d = make_private()
    d.start()
    old = d.wait_components()["jg-broker"]
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        c = d.components()
        if c.get("jg-broker") not in (None, old):
            break
        assert time.monotonic() < deadline, "jg-broker not restarted:\n" + d.output_text()
        time.sleep(0.05)
    # The restarted broker may still be configuring: the gate holds requests until it is ready.
    while True:
        try:
            exercise(d)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    check_audit(d)
