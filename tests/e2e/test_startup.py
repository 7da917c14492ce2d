"""Start-up: secrets, socket path handling."""

import os
import socket
import subprocess
import time

import pytest

from e2e_helpers import NONROOT, Daemon, JINNGUARD_BIN


def test_missing_secret_refuses_to_start(daemon_factory):
    d = daemon_factory(start=False, secret_arg=False)
    missing = d.root / "no-such-secret"
    d.extra_args = ["--secret-file", str(missing)]
    text = d.expect_refusal().strip()
    assert "jinnguard: ready" not in text
    lines = [l for l in text.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected a one-line message, got: {text}"
    assert "secret" in text.lower() or "key" in text.lower(), text
    assert not d.socket.exists()


def test_stale_socket_is_replaced(daemon_factory):
    d = daemon_factory(start=False)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(d.socket))
    s.close()  # leaves a stale socket file behind
    assert d.socket.exists()
    d.start()
    assert d.token_as(NONROOT, action_risk_score=10) == "ALLOW"
    assert oct(os.stat(d.socket).st_mode & 0o777) == oct(0o666)


def test_regular_file_at_socket_path_is_an_error(daemon_factory):
    d = daemon_factory(start=False)
    d.socket.write_text("precious data\n")
    d.expect_refusal()
    assert d.socket.read_text() == "precious data\n"


def test_socket_mode_octal_forms(daemon_factory):
    d = daemon_factory(start=False)
    d.socket_mode = "0o660"
    d.start()
    assert oct(os.stat(d.socket).st_mode & 0o777) == oct(0o660)


def test_sigterm_stops_all_components(daemon):
    comps = daemon.wait_components()
    assert daemon.stop() == 0
    deadline = time.monotonic() + 5
    from e2e_helpers import pid_alive
    while any(pid_alive(p) for p in comps.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(p) for p in comps.values()), comps
