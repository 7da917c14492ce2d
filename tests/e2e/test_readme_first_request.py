"""README.md's "First request", run as written (issue 14): its commands and code are extracted from
README.md, not copied, and run against a daemon started as `make run` starts it (`jinnguard run`, no
flags, in a directory laid out like the repository root), as root and as an ordinary user, three times
in a row each; the output must be the one the README shows."""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from e2e_helpers import JINNGUARD_BIN, NONROOT, REPO, CHILD_PY, short_dir

SECTION = "## First request"


def readme_blocks():
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end > 0 else len(text)]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    sh = [b for lang, b in blocks if lang == "sh"]
    py = [b for lang, b in blocks if lang == "python"]
    out = [b for lang, b in blocks if lang == "text"]
    assert len(sh) == 1 and len(py) == 1 and len(out) == 1, blocks
    return sh[0], py[0], out[0]


def as_the_repository_root():
    """A world-searchable directory laid out like the repository root: .build/debug and clients as
    they are here, the state directory made by the daemon."""
    root = short_dir("jgreadme-")
    (root / ".build").mkdir()
    os.symlink(Path(JINNGUARD_BIN).resolve().parent, root / ".build" / "debug")
    os.symlink(REPO / "clients", root / "clients")
    return root


class MakeRun:
    """`make run`'s command, `$(BIN)/jinnguard run`, run from the repository root."""

    def __init__(self, root, env_extra=None):
        self.root = root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JINN_GUARD", "JINNGUARD"))}
        env.update(env_extra or {})
        self.proc = subprocess.Popen([".build/debug/jinnguard", "run"], cwd=root, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.lines = []
        self.thread = threading.Thread(target=lambda: [self.lines.append(l.rstrip("\n")) for l in self.proc.stdout],
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 90
        while not any(l.startswith("jinnguard: ready") for l in self.lines):
            assert self.proc.poll() is None and time.monotonic() < deadline, "\n".join(self.lines)
            time.sleep(0.05)
        # Wait for the lines printed right after the ready line.
        while not any("jinnguard validate" in l for l in self.lines) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                assert self.proc.wait(20) == 0, "\n".join(self.lines[-30:])
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(10)


def run_shell(block, root, user):
    # As root, with $USER naming the account the key is for (what the shell of that account would expand).
    env = dict(os.environ, USER=str(user))
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=root, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, f"README commands failed (rc {p.returncode}):\n{block}\n{p.stdout}{p.stderr}"
    return p.stdout


def run_python(code, root, uid):
    # `export PYTHONPATH=$PWD/clients/python`, as the README offers instead of pip install.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root / "clients" / "python"), "HOME": "/"}
    kwargs = {} if uid == 0 else dict(user=uid, group=uid, extra_groups=[])
    p = subprocess.run([CHILD_PY, "-"], input=code, cwd=root, env=env, capture_output=True, text=True,
                       timeout=60, **kwargs)
    assert p.returncode == 0, f"README code failed as uid {uid} (rc {p.returncode}):\n{p.stderr}"
    return p.stdout


def test_readme_first_request_as_root_and_as_a_user():
    sh, py, expected = readme_blocks()
    root = as_the_repository_root()
    daemon = None
    try:
        daemon = MakeRun(root)
        assert any(l.startswith("jinnguard: first request:") for l in daemon.lines), \
            "make run does not say how to send a first request:\n" + "\n".join(daemon.lines[-20:])
        for who in (0, NONROOT):
            run_shell(sh, root, "root" if who == 0 else NONROOT)
            key = root / "jinnguard-state" / "agent-keys" / "claims_agent"
            st = key.stat()
            assert (st.st_uid, st.st_mode & 0o777) == (who, 0o400)
            for attempt in range(3):
                out = run_python(py, root, who)
                assert out == expected, f"run {attempt + 1} as uid {who}: {out!r}, README says {expected!r}"
    finally:
        if daemon:
            daemon.stop()
        subprocess.run(["rm", "-rf", str(root)])
