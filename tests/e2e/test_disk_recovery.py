"""The audit log recovers by itself when disk space returns (issue 11, item 5, audit side): while the
file system is full every request is denied DENY_AUDIT_UNAVAILABLE; once space is back the next request
is decided normally, /healthz returns to 200, and the chain has neither a lost nor a forked record."""

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from e2e_helpers import ALLOWED, Daemon, audit_hash_ok


@pytest.fixture
def small_fs():
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = Path(tempfile.mkdtemp(prefix="jgdisk-", dir="/tmp"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)


def fill(path: Path):
    """Writes until ENOSPC (as root, so no reserve is left for anyone)."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError:
                break
        while True:
            try:
                f.write(b"\0")
            except OSError:
                return


def wait_for(pred, limit=15.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


@pytest.mark.parametrize("order", ["request_first", "health_first"])
def test_audit_recovers_when_space_returns(small_fs, tmp_path, order):
    root = small_fs / "d"
    root.mkdir()
    # A signed checkpoint after every other entry, so that checkpoints also meet the full disk.
    d = Daemon(root, env={"JINNGUARD_CHECKPOINT_EVERY": "2"})
    d.lineage = tmp_path / "lineage.json"  # only the audit chain lives on the small file system
    # The audit log lives in the state directory (jg-broker's), which goes below the small file system.
    shutil.rmtree(d.sockdir, ignore_errors=True)
    d.sockdir = small_fs / "s"
    d.sockdir.mkdir(mode=0o755)
    d.socket = d.sockdir / "jg.sock"
    d.audit = d.sockdir / "state" / "audit.jsonl"
    d.start()
    try:
        assert d.token() in ALLOWED
        filler = small_fs / "filler"
        fill(filler)
        denied = [d.token() for _ in range(3)]
        assert all(t == "DENY_AUDIT_UNAVAILABLE" for t in denied), denied
        assert wait_for(lambda: d.http("/healthz")[0] == 503), d.http("/healthz")
        filler.unlink()
        if order == "health_first":
            # Without any traffic the broker writes what it held and reports healthy again.
            assert wait_for(lambda: d.http("/healthz")[0] == 200), d.http("/healthz")
        # The very next request after space is back is decided normally.
        assert d.token() in ALLOWED
        toks = [d.token() for _ in range(3)]
        assert all(t in ALLOWED for t in toks), toks
        status = wait_for(lambda: d.http("/healthz")[0] == 200)
        assert status, d.http("/healthz")
    finally:
        # The state directory goes with the small file system (the fixture unmounts it).
        d.stop(check=True)
    lines = [l for l in d.audit.read_text().splitlines() if l.strip()]
    prev = "0" * 64
    for i, line in enumerate(lines):
        e = json.loads(line)
        assert e["index"] == i, (i, e["index"])
        assert e["prev_hash"] == prev, f"fork at index {i}"
        ok, h = audit_hash_ok(line)
        assert ok, f"bad hash at index {i}"
        prev = e["hash"]
    # The denials given while the disk was full are in the chain too (held, then written).
    verdicts = [json.loads(l)["decision"].get("verdict") for l in lines]
    assert verdicts.count("DENY_AUDIT_UNAVAILABLE") >= len(denied), verdicts
    r = d.cli("audit", "verify", str(d.audit))
    assert r.returncode == 0, r.stdout + r.stderr
