"""Our own Python API over the real daemon: a kept connection (context manager), the asyncio client,
clear errors, the typed package (py.typed) and `pip install ./clients/python`."""

import asyncio
import os
import subprocess
import sys

import pytest

from e2e_helpers import REPO, short_dir

import jinnguard
from jinnguard import (AsyncJinnGuardClient, ConfigurationError, JinnGuardClient, JinnGuardError,
                       TransportError)


def test_context_manager_keeps_one_connection_and_reopens_after_a_deny(daemon):
    with JinnGuardClient(str(daemon.socket), daemon.secret, agent_id="claims_agent") as c:
        r1 = c.propose(intent_name="read_customer_record", action_risk_score=10)
        first = c._kept
        r2 = c.propose(intent_name="read_customer_record", action_risk_score=10)
        assert (r1.token, r2.token) == ("ALLOW", "ALLOW")
        assert c._kept is first and not first.closed  # the same connection, reused
        denied = c.propose(intent_name="wipe_database")
        assert denied.token == "DENY_INTENT_NOT_ALLOWED" and first.closed  # the daemon closes after a DENY
        assert c.propose(intent_name="read_customer_record", action_risk_score=10).token == "ALLOW"
        assert c._kept is not first
    assert c._kept is None


def test_asyncio_client(daemon):
    async def main():
        async with AsyncJinnGuardClient(str(daemon.socket), daemon.secret, agent_id="claims_agent") as c:
            a = await c.propose(intent_name="read_customer_record", action_risk_score=10)
            b = await c.propose(intent_name="read_customer_record", action_risk_score=20)
            d = await c.propose(intent_name="wipe_database")
            e = await c.propose(intent_name="read_customer_record", action_risk_score=10)
            return [a.token, b.token, d.token, e.token]
    assert asyncio.run(main()) == ["ALLOW", "ALLOW", "DENY_INTENT_NOT_ALLOWED", "ALLOW"]

    async def several():
        clients = [AsyncJinnGuardClient(str(daemon.socket), daemon.secret, agent_id="stream_agent") for _ in range(4)]
        try:
            return [r.token for r in await asyncio.gather(*(c.propose(intent_name="read_customer_record",
                                                                      action_risk_score=10) for c in clients))]
        finally:
            for c in clients:
                await c.aclose()
    assert asyncio.run(several()) == ["ALLOW"] * 4


def test_clear_errors(tmp_path, monkeypatch):
    for var in ("JINN_GUARD_SECRET", "JINN_GUARD_SECRET_FILE", "JINNGUARD_SECRET_FILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(TransportError, match="is the daemon running"):
        JinnGuardClient(str(tmp_path / "absent.sock"), b"k").propose("claims_agent", "read_customer_record")
    with pytest.raises(ConfigurationError, match="jinnguard keys issue"):
        JinnGuardClient(str(tmp_path / "absent.sock")).propose("claims_agent", "read_customer_record")
    with pytest.raises(ConfigurationError, match="cannot read the key file"):
        JinnGuardClient(secret_file=str(tmp_path / "missing-key"))
    assert issubclass(ConfigurationError, JinnGuardError) and issubclass(ConfigurationError, KeyError)


def test_unreadable_key_names_the_fix(daemon):
    d = short_dir("jgkey-")
    try:
        (d / "k").write_text("x")
        os.chmod(d / "k", 0o400)
        prog = ("from jinnguard import JinnGuardClient\n"
                f"JinnGuardClient(secret_file={str(d / 'k')!r})\n")
        p = subprocess.run([sys.executable if os.access(sys.executable, os.X_OK) else "/usr/bin/python3", "-c", prog],
                           env={"PYTHONPATH": str(REPO / "clients" / "python"), "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, user=10001, group=10001, extra_groups=[], cwd="/",
                           executable="/usr/bin/python3")
        assert "permission denied" in p.stderr and "jinnguard keys issue --agent" in p.stderr, p.stderr
    finally:
        subprocess.run(["rm", "-rf", str(d)])


def test_package_is_typed_and_pip_installable(tmp_path):
    assert (REPO / "clients" / "python" / "jinnguard" / "py.typed").exists()
    target = tmp_path / "site"
    # From a copy: pip leaves build/ and *.egg-info next to the sources it builds.
    import shutil
    src = tmp_path / "src"
    shutil.copytree(REPO / "clients" / "python", src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                        "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (target / "jinnguard" / "py.typed").exists()
    p = subprocess.run([sys.executable, "-c", "import jinnguard, sys; print(jinnguard.__file__); "
                        "from jinnguard import Guard, GuardVerdict, JinnGuardClient, AsyncJinnGuardClient, runtime_attestation"],
                       env={"PYTHONPATH": str(target), "PATH": os.environ["PATH"]}, capture_output=True, text=True, cwd=str(tmp_path))
    assert p.returncode == 0 and p.stdout.startswith(str(target)), p.stderr


def test_sequence_counters_follow_the_clock_in_nanoseconds():
    a = jinnguard.sequence().next()
    import time
    assert abs(a - time.time_ns()) < 60 * 10**9
