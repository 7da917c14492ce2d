"""Per-agent keys, key rotation, key file forms."""

import os
import time

from e2e_helpers import ALLOWED, NONROOT


def test_agent_secret_dir(daemon_factory, tmp_path):
    keys = tmp_path / "agent-keys"
    keys.mkdir()
    (keys / "claims_agent").write_bytes(b"claims-own-key-123\n")
    d = daemon_factory(extra_args=["--agent-secret-dir", str(keys)])
    assert d.token_as(NONROOT, key=b"claims-own-key-123", action_risk_score=10) == "ALLOW"
    assert d.token(key=d.secret) == "DENY_TAMPERED_TOKEN"
    # an agent without its own file still uses the shared key
    assert d.token(agent="billing_agent", key=d.secret,
                   context_vars={"spending_ceiling_usd": 1}) in ALLOWED
    assert d.token(agent="billing_agent", key=b"claims-own-key-123",
                   context_vars={"spending_ceiling_usd": 1}) == "DENY_TAMPERED_TOKEN"


def test_agent_secret_dir_bad_file_name_stops_start(daemon_factory, tmp_path):
    import subprocess
    keys = tmp_path / "agent-keys"
    keys.mkdir()
    (keys / " claims_agent").write_bytes(b"k\n")
    d = daemon_factory(start=False, extra_args=["--agent-secret-dir", str(keys)])
    d.expect_refusal()


def test_agent_secret_dir_empty_key_stops_start(daemon_factory, tmp_path):
    keys = tmp_path / "agent-keys"
    keys.mkdir()
    (keys / "claims_agent").write_bytes(b"\n")
    d = daemon_factory(start=False, extra_args=["--agent-secret-dir", str(keys)])
    d.expect_refusal()


def test_previous_secret_valid(daemon_factory, tmp_path):
    prev = tmp_path / "prev"
    prev.write_bytes(b"previous-key-abc\n")
    d = daemon_factory(extra_args=["--previous-secret-file", str(prev), "--previous-secret-valid-until",
                                   str(int(time.time()) + 3600)])
    assert d.token_as(NONROOT, key=b"previous-key-abc", action_risk_score=10) == "ALLOW"
    assert d.token_as(NONROOT, key=d.secret, action_risk_score=10) == "ALLOW"


def test_previous_secret_expired(daemon_factory, tmp_path):
    prev = tmp_path / "prev"
    prev.write_bytes(b"previous-key-abc\n")
    d = daemon_factory(extra_args=["--previous-secret-file", str(prev), "--previous-secret-valid-until",
                                   str(int(time.time()) - 10)])
    assert d.token(key=b"previous-key-abc") == "DENY_TAMPERED_TOKEN"
    assert d.token_as(NONROOT, key=d.secret, action_risk_score=10) == "ALLOW"


def test_raw_binary_key_file(daemon_factory):
    raw = bytes(range(256))[:31] + b" "  # trailing space: raw and trimmed forms differ
    d = daemon_factory(start=False)
    d.secret = raw
    d.secret_file.write_bytes(raw)
    d.start()
    assert d.token(key=raw) in ALLOWED
    assert d.token(key=raw.rstrip(b" ")) in ALLOWED


def test_kernel_keyring_key(daemon_factory, tmp_path):
    """Ours: with no secret file, the key is read from the kernel keyring through keyutils."""
    import shutil
    import pytest
    if shutil.which("keyctl") is None:
        pytest.skip("keyctl (Debian package keyutils) is not installed")
    key = b"keyring-key-" + os.urandom(8).hex().encode()
    keyfile = tmp_path / "krkey"
    keyfile.write_bytes(key)
    d = daemon_factory(start=False, secret_arg=False, secret=key)
    inner = " ".join(f"'{a}'" for a in d.argv())
    # A fresh session keyring holding the key, then exec: the daemon keeps the shell's pid.
    d.argv = lambda: ["keyctl", "session", "-", "sh", "-c",
                      f"keyctl padd user jinnguard_hmac_key @s < '{keyfile}' >/dev/null && exec {inner}"]
    d.start()
    assert "kernel keyring" in d.output_since(0), d.output_since(0)
    assert d.token_as(NONROOT, key=key, action_risk_score=10) == "ALLOW"
    assert d.token(key=b"some-other-key") == "DENY_TAMPERED_TOKEN"
