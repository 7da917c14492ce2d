"""The audit log as evidence: signed checkpoints catch truncation, personal data is sealed outside the
chain and can be erased while the chain still verifies, a torn tail is kept and recorded."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from e2e_helpers import JINNGUARD_BIN, NONROOT


def verify(path, *extra):
    return subprocess.run([JINNGUARD_BIN, "audit", "verify", str(path), *extra], capture_output=True, text=True, timeout=60)


def pubkey(d):
    m = re.search(r"^jinnguard: ready.*\baudit_pubkey=(\S+)", d.output_since(0), re.M)
    return Path(m.group(1))


def traffic(d, n=12):
    for i in range(n):
        assert d.token_as(NONROOT, action_risk_score=10) == "ALLOW"


def copy_log(d, dst):
    shutil.copy(d.audit, dst)
    shutil.copy(str(d.audit) + ".manifests", str(dst) + ".manifests")
    return dst


def test_signed_checkpoints_catch_truncation(daemon_factory, tmp_path):
    d = daemon_factory(env={"JINNGUARD_CHECKPOINT_EVERY": "5"})
    traffic(d)
    key = pubkey(d)
    d.stop(check=True)
    r = verify(d.audit, "--pubkey", str(key))
    assert r.returncode == 0 and "signed checkpoints verify" in r.stdout, r.stdout + r.stderr
    cps = [json.loads(l)["checkpoint"] for l in Path(str(d.audit) + ".manifests").read_text().splitlines()]
    lines = Path(d.audit).read_text().splitlines()
    assert cps[-1]["last_index"] == len(lines) - 1, "the shutdown checkpoint attests the last entry"

    # Cutting entries off the end: every remaining line still chains, but the checkpoint says more existed.
    cut = copy_log(d, tmp_path / "cut.jsonl")
    cut.write_text("\n".join(lines[:-3]) + "\n")
    r = verify(cut, "--pubkey", str(key))
    assert r.returncode == 1 and "truncated" in r.stdout, r.stdout

    # Rewriting the manifests to hide the cut needs the private key: a forged checkpoint does not verify.
    forged = copy_log(d, tmp_path / "forged.jsonl")
    forged.write_text("\n".join(lines[:-3]) + "\n")
    m = Path(str(forged) + ".manifests")
    bad = [l for l in m.read_text().splitlines() if json.loads(l)["checkpoint"]["last_index"] < len(lines) - 3]
    last = json.loads(bad[-1])
    last["checkpoint"]["last_index"] = len(lines) - 4
    last["checkpoint"]["last_hash"] = json.loads(lines[-4])["hash"]
    m.write_text("\n".join(bad + [json.dumps(last, separators=(",", ":"))]) + "\n")
    assert verify(forged).returncode == 0, "without the key only the chain is checked"
    r = verify(forged, "--pubkey", str(key))
    assert r.returncode == 1 and "signature does not verify" in r.stdout, r.stdout


def test_personal_data_is_sealed_and_erasable(daemon_factory):
    d = daemon_factory()
    traffic(d, 3)
    text = Path(d.audit).read_text()
    decisions = [json.loads(l) for l in text.splitlines() if json.loads(l)["decision"].get("verdict") == "ALLOW"]
    assert decisions, text
    obs = decisions[-1]["observation"]
    assert set(obs) == {"agent_id", "subject", "personal_data", "signals"}, obs
    assert "10001" not in json.dumps(obs), obs
    sealed = Path(str(d.audit) + ".sealed")
    assert len(list((sealed / "keys").iterdir())) == 1
    d.stop(check=True)
    r = subprocess.run([JINNGUARD_BIN, "audit", "erase", "--subject", f"uid:{NONROOT}", "--audit-log", str(d.audit)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list((sealed / "keys").iterdir()) == [] and list((sealed / "data").iterdir()) == []
    assert Path(d.audit).read_text() == text + Path(d.audit).read_text()[len(text):], "erasure never rewrites the chain"
    assert verify(d.audit).returncode == 0
    r = subprocess.run([JINNGUARD_BIN, "audit", "erase", "--subject", f"uid:{NONROOT}", "--audit-log", str(d.audit)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, "nothing left to erase"


def test_torn_tail_is_kept_and_recorded(daemon_factory):
    d = daemon_factory()
    traffic(d, 2)
    d.stop(check=True)
    good = Path(d.audit).read_bytes()
    torn = b'{"index":999,"timestamp_secs":1,"prev_hash":"00'
    Path(d.audit).write_bytes(good + torn)
    d.start()
    traffic(d, 1)
    d.stop(check=True)
    assert verify(d.audit).returncode == 0
    saved = list(Path(d.audit).parent.glob(Path(d.audit).name + ".torn-*"))
    assert saved and saved[0].read_bytes() == torn
    boots = [json.loads(l) for l in Path(d.audit).read_text().splitlines() if json.loads(l)["intent"].get("class") == "Boot"]
    assert boots[-1]["assessment"].get("recovered_torn_tail_bytes") == len(torn), boots[-1]
    assert Path(d.audit).read_bytes().startswith(good), "history before the tear is untouched"
