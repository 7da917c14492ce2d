"""SIGHUP reload and `jinnguard policy check`."""

import hashlib
import signal
import time

from e2e_helpers import ALLOWED, DEFAULT_POLICY, NONROOT

NEW_AGENT = """\
  - id: newcomer_agent
    privilege_tier: 1
    allowed_peer_uids: []
    allowed_intents: []
    allowed_executables: []
    max_sequence_quota: 0
    invariants: []
"""


def wait_output(d, index, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in d.output_since(index):
            return True
        time.sleep(0.1)
    return False


def test_sighup_broken_policy_keeps_old_then_good_policy_applies(daemon):
    assert daemon.token(agent="newcomer_agent") == "DENY_UNKNOWN_AGENT_ID"
    # broken: adds the agent but also an unknown key
    broken = DEFAULT_POLICY + NEW_AGENT + "bogus_reload_key: 1\n"
    daemon.policy.write_text(broken)
    mark = daemon.output_len()
    daemon.proc.send_signal(signal.SIGHUP)
    said = wait_output(daemon, mark, "bogus_reload_key")
    assert daemon.proc.poll() is None, "daemon died on SIGHUP with a broken policy"
    assert daemon.token(agent="newcomer_agent") == "DENY_UNKNOWN_AGENT_ID"
    assert daemon.token_as(NONROOT, action_risk_score=10) == "ALLOW"
    assert daemon.token(action_risk_score=95) == "DENY_RISK_CEILING_EXCEEDED"
    assert said, "reload of a broken policy did not say why (no mention of the bad key):\n" + \
        daemon.output_since(mark)
    # good: the new agent becomes known
    daemon.policy.write_text(DEFAULT_POLICY + NEW_AGENT)
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    tok = None
    while time.monotonic() < deadline:
        tok = daemon.token(agent="newcomer_agent")
        if tok in ALLOWED:
            break
        time.sleep(0.2)
    assert tok in ALLOWED, f"new agent after good reload: {tok}\n{daemon.output_text()}"
    assert daemon.token_as(NONROOT, action_risk_score=10) == "ALLOW"
    assert len(daemon.components()) == 4


def wait_audit(d, needle, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [l for l in d.audit_lines() if needle in l]
        if lines:
            return lines
        time.sleep(0.1)
    return []


def test_policy_digest_is_the_yaml_files_sha256_before_and_after_reload(daemon):
    # Components get the policy as canonical JSON; the digest they audit is still the YAML text's.
    old = hashlib.sha256(daemon.policy.read_bytes()).hexdigest()
    assert wait_audit(daemon, f"policy_digest={old}"), "boot record without the YAML's digest:\n" + \
        "\n".join(daemon.audit_lines())
    assert daemon.token_as(NONROOT, action_risk_score=10) == "ALLOW"
    assert wait_audit(daemon, f'"policy_digest":"{old}"'), "decision record without the YAML's digest"

    daemon.policy.write_text(DEFAULT_POLICY + NEW_AGENT)
    new = hashlib.sha256(daemon.policy.read_bytes()).hexdigest()
    assert new != old
    daemon.proc.send_signal(signal.SIGHUP)
    assert wait_audit(daemon, f"policy_digest={new}"), "no PolicyReload record with the new YAML's digest"
    deadline = time.monotonic() + 10
    while daemon.token(agent="newcomer_agent") not in ALLOWED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert wait_audit(daemon, f'"policy_digest":"{new}"'), "decision after reload without the new digest"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def line_of(text, needle):
    return next(i for i, l in enumerate(text.splitlines(), 1) if needle in l)


def test_policy_check_good(daemon_factory, tmp_path):
    from e2e_helpers import JINNGUARD_BIN
    import subprocess
    p = write(tmp_path, "good.yaml", DEFAULT_POLICY)
    r = subprocess.run([JINNGUARD_BIN, "policy", "check", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def run_check(path):
    from e2e_helpers import JINNGUARD_BIN
    import subprocess
    return subprocess.run([JINNGUARD_BIN, "policy", "check", str(path)], capture_output=True,
                          text=True, timeout=60)


def assert_names_line(r, path, line):
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"{path}:{line}" in out or f"{path.name}:{line}" in out, \
        f"expected '{path}:{line}' in: {out}"


def test_policy_check_bad_invariant(tmp_path):
    text = DEFAULT_POLICY.replace('"spending_ceiling_usd <= 150.00"', '"spending_ceiling_usd <=> 150.00"')
    p = write(tmp_path, "badinv.yaml", text)
    assert_names_line(run_check(p), p, line_of(text, "<=>"))


def test_policy_check_unparsable_number(tmp_path):
    # (`x <= lots` would be a valid variable-to-variable comparison in the extended language)
    for i, bad in enumerate(('"spending_ceiling_usd <= 150.0.0"', '"spending_ceiling_usd <="',
                             '"<= 150"')):
        text = DEFAULT_POLICY.replace('"spending_ceiling_usd <= 150.00"', bad)
        p = write(tmp_path, f"badnum{i}.yaml", text)
        assert_names_line(run_check(p), p, line_of(text, bad))


def test_policy_check_unknown_key(tmp_path):
    text = DEFAULT_POLICY.replace("    max_sequence_quota: 3\n", "    max_sequence_quota: 3\n    max_sequense_quota: 4\n")
    p = write(tmp_path, "unknown.yaml", text)
    assert_names_line(run_check(p), p, line_of(text, "max_sequense_quota"))
    text2 = "unknown_top_level: true\n" + DEFAULT_POLICY
    p2 = write(tmp_path, "unknown2.yaml", text2)
    assert_names_line(run_check(p2), p2, 1)


def test_policy_check_duplicate_agent_and_bad_ceiling(tmp_path):
    text = DEFAULT_POLICY + DEFAULT_POLICY.split("agent_nodes:\n", 1)[1].split("  - id: billing_agent")[0]
    p = write(tmp_path, "dup.yaml", text)
    r = run_check(p)
    assert r.returncode != 0, r.stdout + r.stderr
    for bad in ("1e999", ".nan", "-5", "101"):
        t = DEFAULT_POLICY.replace("global_safety_ceiling: 90.0", f"global_safety_ceiling: {bad}")
        p = write(tmp_path, "ceil.yaml", t)
        r = run_check(p)
        assert r.returncode != 0, (bad, r.stdout + r.stderr)
