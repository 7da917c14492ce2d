"""Peer observation that tells the truth (issue 10 item 5): the unprivileged gate cannot read another uid's
/proc/PID/exe or ns/pid, so the observation is made where it can be seen. A plain client records its real
executable and pid namespace and observed risk 0; root 25; a peer that really hides (it exited) is
"unreadable", and that still counts."""

import json
import os
import socket
import time
from pathlib import Path

from e2e_helpers import CHILD_PY, NONROOT, send_as, recv_reply, token_of


def last_decision(d, seq, agent="claims_agent"):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for l in reversed(Path(d.audit).read_text().splitlines()):
            e = json.loads(l)
            if e["intent"].get("sequence_counter") == seq and e["observation"].get("agent_id") == agent:
                return e
        time.sleep(0.05)
    raise AssertionError(f"no audit record for sequence {seq}")


def sealed_fields(d, entry):
    """The sealed personal data the entry commits to, decrypted with the subject's key (AES-256-GCM,
    additional data `request:<id>`); None where no AES-GCM implementation is importable."""
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        return None
    import hashlib
    sealed = Path(str(d.audit) + ".sealed")
    ref = f"request:{entry['decision']['request_id']}"
    for keyfile in (sealed / "keys").iterdir():
        key = bytes.fromhex(keyfile.read_text().strip())
        data = sealed / "data" / (keyfile.name + ".jsonl")
        if not data.exists():
            continue
        for line in data.read_text().splitlines():
            rec = json.loads(line)
            if rec["ref"] != ref:
                continue
            nonce, ct, tag = (bytes.fromhex(rec[k]) for k in ("nonce", "ct", "tag"))
            if hashlib.sha256(nonce + ct + tag).hexdigest() != entry["observation"]["personal_data"]:
                continue
            return json.loads(AESGCM(key).decrypt(nonce, ct + tag, ref.encode()))
    raise AssertionError(f"no sealed record {ref}")


def test_plain_client_is_observed_with_its_real_executable(daemon):
    seq = daemon.seq()
    tok = token_of(send_as(NONROOT, daemon.socket, [daemon.frame_for(seq=seq)])[0])
    e = last_decision(daemon, seq)
    sig = e["observation"]["signals"]
    assert "exe_unreadable" not in sig and "pidns_unobservable" not in sig, sig
    assert e["assessment"]["observed_risk"] == 0, e["assessment"]
    assert tok == "ALLOW", tok
    fields = sealed_fields(daemon, e)
    if fields is not None:
        exes = [s for s in fields["signals"] if s.startswith("exe=")]
        assert exes and os.path.realpath(CHILD_PY) == exes[0][len("exe="):], fields


def test_root_client_counts_only_its_uid(daemon):
    seq = daemon.seq()
    tok = daemon.token(seq=seq)
    e = last_decision(daemon, seq)
    sig = e["observation"]["signals"]
    assert "peer_uid_root" in sig and "exe_unreadable" not in sig and "pidns_unobservable" not in sig, sig
    assert e["assessment"]["observed_risk"] == 25, e["assessment"]
    assert tok == "ALLOW", tok


def test_peer_that_exited_is_unreadable_and_counts(daemon):
    """The socket is connected by a process that exits before the request is sent (it hands the socket
    to this one): there is nothing left to observe, and the request is scored as unobservable."""
    seq = daemon.seq()
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(NONROOT)
            os.setuid(NONROOT)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(daemon.socket))
            socket.send_fds(b, [b"x"], [s.fileno()])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    _, fds, _, _ = socket.recv_fds(a, 1, 1)
    a.close(); b.close()
    s = socket.socket(fileno=fds[0])
    s.settimeout(5)
    s.sendall(daemon.frame_for(seq=seq))
    body = recv_reply(s)
    s.close()
    e = last_decision(daemon, seq)
    sig = e["observation"]["signals"]
    assert "exe_unreadable" in sig, sig
    assert e["assessment"]["observed_risk"] >= 20, e["assessment"]
    assert token_of(body) is not None
