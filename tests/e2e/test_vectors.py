"""PROTOCOL §9 vectors against the Python SDK (no daemon needed)."""

import json
import socket
import struct
import threading

import pytest

from e2e_helpers import NONROOT  # noqa: F401  (puts the SDK on sys.path)
import jinnguard
from jinnguard import JinnGuardClient, Reply, frame, parse_reply, sign

V1_PAYLOAD = '{"sequence_counter":1}'
V1_SIG = "a9a3477e0b191ad737e46d0a5d98f70ff2374512800bbfde830a13dc6dbc1475"
V2_PAYLOAD = ('{"sequence_counter":700000001,"intent_name":"read_customer_record",'
              '"action_risk_score":10,"agent_id":"claims_agent"}')
V2_SIG = "6eedc473d248caf8b5212a7d672f4895608e1af97a1d5307c0c16fbc3347fb22"
V3_PAYLOAD = ('{"intent_name":"read_customer_record","agent_id":"claims_agent",'
              '"sequence_counter":700000001,"session_privilege_bit":0.0,"action_risk_score":10.0}')
V3_SIG = "b004b90e70a464294f24ceef5aafbe5f821ecc342343cd903bc181da992cda47"


def test_vector1_hmac_and_envelope():
    c = JinnGuardClient("/nonexistent", "unit-test-secret-key")
    assert c.sign(V1_PAYLOAD) == V1_SIG
    env = c.envelope({"sequence_counter": 1})
    assert env == ('{"payload":"{\\"sequence_counter\\":1}","signature":"%s"}' % V1_SIG).encode()
    assert len(env) == 117
    assert frame(env)[:5] == bytes([0x00, 0x00, 0x00, 0x75, 0x01])
    assert frame(env)[5:] == env


def test_vector2_hmac_and_envelope():
    c = JinnGuardClient("/nonexistent", "test-secret")
    assert sign(b"test-secret", V2_PAYLOAD) == V2_SIG
    env = c.envelope(V2_PAYLOAD)
    assert len(env) == 221
    assert json.loads(env) == {"payload": V2_PAYLOAD, "signature": V2_SIG}
    assert frame(env)[:5] == bytes([0x00, 0x00, 0x00, 0xDD, 0x01])


def test_vector3_sdk_payload_form():
    c = JinnGuardClient("/nonexistent", "test-secret")
    from jinnguard.client import build_proposal, compact_json
    p = compact_json(build_proposal("claims_agent", "read_customer_record", 700000001,
                                    action_risk_score=10))
    assert p == V3_PAYLOAD
    assert c.sign(p) == V3_SIG
    assert json.loads(c.envelope(json.loads(V3_PAYLOAD)))["signature"] == V3_SIG


def test_vector_reply_allow_bytes():
    assert frame(b"SIGNAL: ALLOW\n") == bytes.fromhex("0000000e01") + b"SIGNAL: ALLOW\n"
    assert len(frame(b"SIGNAL: ALLOW\n")) == 19
    r = parse_reply(b"SIGNAL: ALLOW\n")
    assert r.token == "ALLOW" and r.allowed and r.result is None and r.constraints is None


def test_vector_frame_headers():
    assert struct.unpack(">IB", bytes.fromhex("0000000501")) == (5, 1)
    assert struct.unpack(">IB", bytes.fromhex("FFFFFFFFAB")) == (4294967295, 0xAB)


def test_vector_reply_grammar():
    r = parse_reply(b'SIGNAL: ALLOW\n{"executed":true,"exit_code":0,"stderr":"","stdout":"hello\\n"}\n')
    assert r.allowed and r.result["stdout"] == "hello\n"
    r = parse_reply(b'SIGNAL: CONSTRAIN\n{"redact_output":false,"rate_limit_rps":5,'
                    b'"allowed_network_destinations":[],"output_byte_limit":65536}\n')
    assert r.allowed and r.token == "CONSTRAIN" and r.constraints["output_byte_limit"] == 65536
    r = parse_reply(b"SIGNAL: DENY_REPLAY_ATTACK\n")
    assert not r.allowed and r.denied
    with pytest.raises(jinnguard.ProtocolError):
        parse_reply(b"SIGNAL: ALLOW")
    with pytest.raises(jinnguard.ProtocolError):
        parse_reply(b"HELLO\n")


def test_vector_secret_and_socket_resolution(monkeypatch, tmp_path):
    for v in ("JINN_GUARD_SOCKET", "JINNGUARD_SOCKET", "JINN_GUARD_SECRET", "JINN_GUARD_SECRET_FILE",
              "JINNGUARD_SECRET_FILE"):
        monkeypatch.delenv(v, raising=False)
    assert JinnGuardClient().socket_path == "/tmp/jinnguard.sock"
    monkeypatch.setenv("JINNGUARD_SOCKET", "/b.sock")
    assert JinnGuardClient().socket_path == "/b.sock"
    monkeypatch.setenv("JINN_GUARD_SOCKET", "/a.sock")
    assert JinnGuardClient().socket_path == "/a.sock"
    f = tmp_path / "k"
    f.write_text("  file-key\n")
    monkeypatch.setenv("JINNGUARD_SECRET_FILE", str(f))
    assert JinnGuardClient().secret == b"file-key"
    monkeypatch.setenv("JINN_GUARD_SECRET", "env-key")
    assert JinnGuardClient().secret == b"env-key"


def test_vector_sequence_monotonic():
    s = jinnguard.sequence()
    a = [s.next() for _ in range(1000)]
    assert a == sorted(set(a))
    assert jinnguard.sequence().next() > a[0]  # a new helper starts from the clock, not from 1
    assert a[0] < 2 ** 64


def _fake_server(path, replies, split=False):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = []

    def run():
        conn, _ = srv.accept()
        with conn:
            for body in replies:
                hdr = conn.recv(5)
                n = struct.unpack(">IB", hdr)[0]
                data = b""
                while len(data) < n:
                    data += conn.recv(n - len(data))
                got.append(data)
                if split:
                    conn.sendall(frame(body)[:3])
                    import time
                    time.sleep(0.2)
                    try:
                        conn.sendall(frame(body)[3:])
                    except OSError:
                        pass
                else:
                    conn.sendall(frame(body))
        srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, got


def test_vector_sdk_connection_against_fake_server(tmp_path):
    path = str(tmp_path / "s")
    t, got = _fake_server(path, [b"SIGNAL: ALLOW\n", b"SIGNAL: DENY_REPLAY_ATTACK\n"])
    c = JinnGuardClient(path, "test-secret")
    with c.connect() as conn:
        r1 = conn.propose("claims_agent", "read_customer_record", 700000001, action_risk_score=10)
        r2 = conn.propose("claims_agent", "read_customer_record", 700000001, action_risk_score=10)
        assert conn.closed
    t.join(5)
    assert r1.token == "ALLOW" and r2.token == "DENY_REPLAY_ATTACK"
    assert got[0] == c.envelope(json.loads(V3_PAYLOAD))
    assert json.loads(got[0])["signature"] == V3_SIG


def test_vector_sdk_short_header_is_transport_error(tmp_path):
    path = str(tmp_path / "s")
    t, _ = _fake_server(path, [b"SIGNAL: ALLOW\n"], split=True)
    c = JinnGuardClient(path, "k")
    with pytest.raises(jinnguard.TransportError):
        c.propose("a", "b", 1)
    t.join(5)


def test_vector_guard_raises_on_deny(tmp_path):
    path = str(tmp_path / "s")
    t, _ = _fake_server(path, [b"SIGNAL: DENY_CANARY_TRIPWIRE\n"])
    g = jinnguard.Guard(JinnGuardClient(path, "k"), "claims_agent")
    with pytest.raises(jinnguard.JinnGuardDenied) as ei:
        g.check("read_canary")
    assert ei.value.token == "DENY_CANARY_TRIPWIRE"
    t.join(5)
