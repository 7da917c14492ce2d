"""Fixtures of the end-to-end suite. They drive the REAL daemon binary:
JINNGUARD_BIN, default <repo>/.build/debug/jinnguard."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_helpers import DEFAULT_POLICY, JINNGUARD_BIN, Daemon, stop_all  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds (component kills)")


@pytest.fixture
def daemon_factory(tmp_path):
    """make(policy=..., extra_args=..., env=..., secret=..., start=True, name=...) -> Daemon.
    Every daemon made is stopped at teardown with SIGTERM and must exit 0."""
    if not os.path.exists(JINNGUARD_BIN):
        pytest.fail(f"daemon binary not found: {JINNGUARD_BIN} (set JINNGUARD_BIN)")
    made = []

    def make(policy=DEFAULT_POLICY, extra_args=(), env=None, secret=None, start=True, name=None,
             secret_arg=True):
        root = tmp_path / (name or f"d{len(made)}")
        root.mkdir()
        d = Daemon(root, policy=policy, extra_args=extra_args, env=env, secret=secret,
                   secret_arg=secret_arg)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    stop_all(made)


@pytest.fixture
def daemon(daemon_factory):
    """A daemon on the default test policy (see e2e_helpers.DEFAULT_POLICY)."""
    return daemon_factory()


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory):
    """One daemon on the default policy shared by a module's read-mostly tests (frame vectors,
    hostile input). Tests that need a pristine daemon use `daemon`."""
    if not os.path.exists(JINNGUARD_BIN):
        pytest.fail(f"daemon binary not found: {JINNGUARD_BIN} (set JINNGUARD_BIN)")
    d = Daemon(tmp_path_factory.mktemp("shared"))
    try:
        d.start()
        yield d
    finally:
        try:
            d.stop(check=True)
        finally:
            d.cleanup()
