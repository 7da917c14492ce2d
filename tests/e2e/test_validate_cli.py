"""`jinnguard validate` against `make run`'s daemon and on its own, help that names every environment
variable, usage errors exit 2 with one line, `audit verify` tells a missing log (2) from a bad one (1)."""

import os
import subprocess

from e2e_helpers import JINNGUARD_BIN, NONROOT, free_port, policy_with
from test_readme_first_request import MakeRun, as_the_repository_root


def validate(cwd, *args, env=None):
    return subprocess.run([JINNGUARD_BIN, "validate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_validate_passes_against_make_runs_daemon():
    root = as_the_repository_root()
    port = free_port()
    d = None
    try:
        d = MakeRun(root, {"JINNGUARD_METRICS_PORT": str(port)})
        r = validate(root, env=dict(os.environ, JINNGUARD_METRICS_PORT=str(port)))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "the running daemon" in r.stdout and "RESULT: everything holds." in r.stdout
        assert "/metrics counts every reply" in r.stdout.split("the running daemon")[1]
        # With a key of its own, claims_agent is validated with that key.
        k = subprocess.run([".build/debug/jinnguard", "keys", "issue", "--agent", "claims_agent", "--user", str(NONROOT)],
                           cwd=root, capture_output=True, text=True, timeout=60)
        assert k.returncode == 0, k.stdout + k.stderr
        r = validate(root)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "signing with it" in r.stdout
    finally:
        if d:
            d.stop()
        subprocess.run(["rm", "-rf", str(root)])


def test_validate_fails_when_an_attack_gets_through(daemon_factory):
    # claims_agent may do anything: "wipe_database" is allowed, so the battery must fail, exit 1.
    lax = policy_with(**{"allowed_intents: [read_customer_record, summarize_claim, list_claims]": "allowed_intents: []"})
    d = daemon_factory(policy=lax)
    r = validate("/", "--state-dir", str(d.sockdir / "state"), "--socket-path", str(d.socket),
                 "--policy-file", str(d.policy), "--secret-file", str(d.secret_file), "--audit-log", str(d.audit))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[FAIL] intent not on the allowlist" in r.stdout


def test_validate_is_a_subcommand_and_help_names_every_variable():
    helps = {args: subprocess.run([JINNGUARD_BIN, *args, "--help"], capture_output=True, text=True).stdout
             for args in [(), ("run",), ("validate",), ("keys",)]}
    for var in ("JINNGUARD_METRICS_PORT", "JINNGUARD_SECRET_FILE", "JINN_GUARD_SECRET", "JINNGUARD_AGENT_SECRET_DIR",
                "JINNGUARD_TOOL_UID_RANGE", "JINNGUARD_MAX_CONNECTIONS_PER_UID", "JINNGUARD_MAX_CONNECTIONS",
                "JINNGUARD_BPF_DIR", "JINN_GUARD_SOCKET", "JINN_AGENT_ID"):
        assert var in helps[()] and var in helps[("run",)], var
    assert "JINNGUARD_METRICS_PORT" in helps[("validate",)]
    assert "JINNGUARD_AGENT_SECRET_DIR" in helps[("keys",)]
    assert "Unexpected argument" not in subprocess.run([JINNGUARD_BIN, "validate", "--help"], capture_output=True, text=True).stderr


def test_usage_errors_exit_2_with_one_line():
    for args in (["run", "--no-such-flag"], ["status", "--bogus"], ["audit", "verify"], ["keys", "issue"],
                 ["validate", "--metrics-port", "notaport"], ["no-such-command"]):
        r = subprocess.run([JINNGUARD_BIN, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


def test_audit_verify_missing_file_is_2_and_a_bad_chain_is_1(daemon, tmp_path):
    r = daemon.cli("audit", "verify", str(tmp_path / "no-such.jsonl"))
    assert r.returncode == 2 and "cannot read" in r.stdout and "No such file" in r.stdout
    assert daemon.token(action_risk_score=10) == "ALLOW"
    lines = daemon.wait_audit_count(2)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    r = daemon.cli("audit", "verify", str(bad))
    assert r.returncode == 1 and "FAILED at line" in r.stdout
