"""Code written for the original Python SDK runs unchanged against our daemon (issue 14): the original's
names (JinnGuardClient().send_proposal, GuardVerdict, Guard().audit / execute_shell / write_file /
request, runtime_attestation) and its environment (JINN_GUARD_SOCKET, JINN_GUARD_SECRET,
JINN_GUARD_SECRET_FILE, JINN_AGENT_ID), over the real daemon."""

import json
import os
import subprocess

import pytest

from e2e_helpers import CHILD_PY, NONROOT, REPO, short_dir

# A program written for the original SDK, as its users wrote them: only its names and its variables.
ORIGINAL_PROGRAM = r'''
import json
from jinnguard import Guard, GuardVerdict, JinnGuardClient, runtime_attestation

out = {}
client = JinnGuardClient()
raw = client.send_proposal({"intent_name": "read_customer_record", "agent_id": "claims_agent",
                            "action_risk_score": 10.0})
v = GuardVerdict(raw)
out["send_proposal"] = [v.signal(), v.is_allowed(), v.is_denied(), v.is_constrained()]
out["send_proposal_again"] = GuardVerdict(client.send_proposal(
    {"intent_name": "read_customer_record", "agent_id": "claims_agent"}, risk_score=10.0)).signal()
out["unknown"] = GuardVerdict(client.send_proposal({"intent_name": "x", "agent_id": "ghost"})).signal()
out["intent_string_anonymous"] = GuardVerdict(client.send_proposal("read_customer_record", risk_score=10)).signal()

with Guard() as guard:                      # agent from JINN_AGENT_ID
    a = guard.audit(privilege=0.0, risk_score=10.0, intent_name="run_echo")
    out["audit"] = [a.signal(), a.is_allowed()]
    sh = guard.execute_shell("echo hello", intent_name="run_echo")
    out["execute_shell"] = [sh.signal(), sh.is_allowed(), (sh.get_result() or {}).get("stdout")]
    wf = guard.write_file("note.txt", "hi", intent_name="write_temp")
    out["write_file"] = [wf.signal(), wf.is_allowed(), (wf.get_result() or {}).get("bytes_written")]
    rq = guard.request("GET", "http://169.254.169.254/latest/meta-data", intent_name="run_tool")
    out["request"] = [rq.signal(), rq.is_denied()]
    danger = guard.execute_shell("rm -rf /", intent_name="run_tool")
    out["execute_shell_destructive"] = [danger.signal(), danger.is_denied()]
att = runtime_attestation()
out["attestation"] = [att["uid"], att["socket_present"], sorted(att)]
print(json.dumps(out))
'''


@pytest.fixture
def secret_file(daemon):
    d = short_dir("jgsdk-")
    f = d / "key"
    f.write_bytes(daemon.secret + b"\n")
    os.chown(f, NONROOT, NONROOT)
    os.chmod(f, 0o400)
    yield f
    subprocess.run(["rm", "-rf", str(d)])


def run_original_program(daemon, secret_file, uid=NONROOT, **env_extra):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "clients" / "python"),
           "JINN_GUARD_SOCKET": str(daemon.socket), "JINN_GUARD_SECRET_FILE": str(secret_file),
           "JINN_AGENT_ID": "exec_agent", **env_extra}
    kwargs = {} if uid == 0 else dict(user=uid, group=uid, extra_groups=[])
    p = subprocess.run([CHILD_PY, "-c", ORIGINAL_PROGRAM], env=env, cwd="/", capture_output=True, text=True,
                       timeout=120, **kwargs)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_code_written_for_the_original_sdk_runs_unchanged(daemon, secret_file):
    out = run_original_program(daemon, secret_file)
    assert out["send_proposal"] == ["SIGNAL: ALLOW", True, False, False]
    assert out["send_proposal_again"] == "SIGNAL: ALLOW"  # its own counters, never a replay
    assert out["unknown"] == "SIGNAL: DENY_UNKNOWN_AGENT_ID"
    assert out["intent_string_anonymous"] == "SIGNAL: DENY_ANONYMOUS_AGENT_NOT_PERMITTED"
    assert out["audit"][1] is True, out
    assert out["execute_shell"] == [out["execute_shell"][0], True, "hello\n"], out
    assert out["write_file"][1:] == [True, 2], out
    assert out["request"][1] is True and out["request"][0].startswith("SIGNAL: DENY_"), out
    assert out["execute_shell_destructive"][1] is True, out
    assert out["attestation"][0] == NONROOT and out["attestation"][1] is True
    assert "cap_eff" in out["attestation"][2] and "no_new_privs" in out["attestation"][2]


def test_original_secret_variable_and_missing_secret(daemon, tmp_path):
    # JINN_GUARD_SECRET itself (no file), as the original's deployments set it.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "clients" / "python"),
           "JINN_GUARD_SOCKET": str(daemon.socket), "JINN_GUARD_SECRET": daemon.secret.decode()}
    prog = ("from jinnguard import JinnGuardClient, GuardVerdict\n"
            "print(GuardVerdict(JinnGuardClient().send_proposal({'intent_name': 'read_customer_record',"
            " 'agent_id': 'claims_agent', 'action_risk_score': 10.0})).signal())")
    p = subprocess.run([CHILD_PY, "-c", prog], env=env, capture_output=True, text=True, timeout=60,
                       user=NONROOT, group=NONROOT, extra_groups=[], cwd="/")
    assert p.stdout.strip() == "SIGNAL: ALLOW", p.stderr
    # No secret at all: the original raised KeyError when the client was made; so do we.
    env.pop("JINN_GUARD_SECRET")
    prog = ("from jinnguard import Guard\n"
            "try:\n    Guard()\nexcept KeyError as e:\n    print('KeyError', e)\n")
    p = subprocess.run([CHILD_PY, "-c", prog], env=env, capture_output=True, text=True, timeout=60, cwd="/")
    assert p.stdout.startswith("KeyError") and "JINN_GUARD_SECRET" in p.stdout, p.stdout + p.stderr


def test_transport_errors_are_strings_as_in_the_original(tmp_path, monkeypatch):
    from jinnguard import GuardVerdict, JinnGuardClient
    monkeypatch.setenv("JINN_GUARD_SECRET", "k")
    r = JinnGuardClient(socket_path=str(tmp_path / "none.sock")).send_proposal("read_customer_record")
    assert r.startswith("TRANSPORT_ERROR: ") and GuardVerdict(r).is_denied() and not GuardVerdict(r).is_allowed()
