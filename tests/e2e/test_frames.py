"""§2-§3 and §9 frame vectors against the daemon, and hostile input."""

import json
import os
import resource
import socket
import struct
import threading
import time

import pytest

from e2e_helpers import (ALLOWED, MAX_BODY, NONROOT, connect, envelope_bytes, exchange, payload_str,
                         proposal, recv_reply, token_of, tokens_as, wait_closed)
from jinnguard import frame

MALFORMED = "DENY_MALFORMED_PAYLOAD"


def assert_alive(d):
    """The daemon still answers a normal request (as a non-root client: ALLOW)."""
    tok = d.token_as(NONROOT, action_risk_score=10)
    assert tok == "ALLOW", f"daemon no longer serves a normal request: {tok}\n{d.output_text()}"


def test_frame_vector_length5_version1(shared_daemon):
    # 00 00 00 05 01 + 5 bytes: a complete frame, read and parsed (not JSON)
    assert shared_daemon.raw_token(bytes.fromhex("0000000501") + b"hello") == MALFORMED


def test_frame_vector_bad_version_checked_before_length(shared_daemon):
    with connect(shared_daemon.socket) as s:
        s.sendall(bytes.fromhex("FFFFFFFFAB"))
        assert token_of(recv_reply(s)) == "DENY_BAD_VERSION"
        _, closed = wait_closed(s, 5)
        assert closed, "daemon did not close after DENY_BAD_VERSION"
    # version 0 and 2 with a small length, too
    assert shared_daemon.raw_token(bytes.fromhex("0000000200") + b"{}") == "DENY_BAD_VERSION"
    assert shared_daemon.raw_token(bytes.fromhex("0000000202") + b"{}") == "DENY_BAD_VERSION"


def test_frame_vector_encoding_error(shared_daemon):
    assert shared_daemon.raw_token(frame(bytes.fromhex("fffe00"))) == "DENY_ENCODING_ERROR"
    # invalid UTF-8 inside an otherwise JSON-looking body
    assert shared_daemon.raw_token(frame(b'{"payload":"\xc3\x28","signature":"00"}')) == "DENY_ENCODING_ERROR"
    # overlong encoding of '/' and a lone surrogate (CESU) are not UTF-8 either
    assert shared_daemon.raw_token(frame(b'{"payload":"\xc0\xaf"}')) == "DENY_ENCODING_ERROR"
    assert shared_daemon.raw_token(frame(b'{"payload":"\xed\xa0\x80"}')) == "DENY_ENCODING_ERROR"


@pytest.mark.parametrize("body", [b"not json", b'{"payload":"p"}', b"[]", b"", b"{}", b"null",
                                  b'{"payload":{"sequence_counter":1},"signature":"00"}',
                                  b'{"payload":"{}","signature":5}',
                                  b'{"signature":"' + b"0" * 64 + b'"}'],
                         ids=["not-json", "no-signature", "array", "empty", "empty-object", "null",
                              "embedded-object", "signature-number", "no-payload"])
def test_frame_vector_malformed(shared_daemon, body):
    assert shared_daemon.raw_token(frame(body)) == MALFORMED


def test_frame_vector_tampered_signatures(shared_daemon):
    d = shared_daemon
    for sig in ("zzzz", "00" * 32, "", "A" * 64):
        p = payload_str(proposal("claims_agent", "read_customer_record", d.seq()))
        assert d.raw_token(frame(envelope_bytes(p, d.secret, sig))) == "DENY_TAMPERED_TOKEN", sig


def test_signature_upper_case_with_whitespace_accepted(shared_daemon):
    d = shared_daemon
    p = payload_str(proposal("claims_agent", "read_customer_record", d.seq(), action_risk_score=10))
    from jinnguard import sign
    sig = "  " + sign(d.secret, p).upper() + "\n"
    assert tokens_as(NONROOT, d.socket, [frame(envelope_bytes(p, d.secret, sig))]) == ["ALLOW"]


def test_payload_not_json_is_malformed_even_with_valid_signature(shared_daemon):
    d = shared_daemon
    assert d.raw_token(frame(envelope_bytes("not json", d.secret))) == MALFORMED
    assert d.raw_token(frame(envelope_bytes("not json", d.secret, "zzzz"))) == MALFORMED


def test_oversize_header_refused(shared_daemon):
    with connect(shared_daemon.socket) as s:
        s.sendall(struct.pack(">IB", MAX_BODY + 1, 1))
        assert token_of(recv_reply(s)) == "DENY_PAYLOAD_TOO_LARGE"
        _, closed = wait_closed(s, 5)
        assert closed


def test_oversize_full_body_refused(shared_daemon):
    d = shared_daemon
    data = struct.pack(">IB", MAX_BODY + 1, 1) + b"x" * (MAX_BODY + 1)
    with connect(d.socket) as s:
        def pump():
            try:
                s.sendall(data)
            except OSError:
                pass
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        assert token_of(recv_reply(s)) == "DENY_PAYLOAD_TOO_LARGE"
    t.join(10)
    assert_alive(d)


def test_exactly_4mib_body_is_accepted_as_a_frame(shared_daemon):
    d = shared_daemon
    # junk of exactly 4 MiB: read in full and judged as an envelope, not as a size error
    assert d.raw_token(frame(b"x" * MAX_BODY), timeout=20) == MALFORMED
    # a valid envelope padded with an unknown envelope key to exactly 4 MiB: a normal request
    p = payload_str(proposal("claims_agent", "read_customer_record", d.seq(), action_risk_score=10))
    head = json.dumps({"payload": p, "signature": __import__("jinnguard").sign(d.secret, p),
                       "pad": ""}, separators=(",", ":")).encode()
    body = head[:-2] + b"a" * (MAX_BODY - len(head)) + head[-2:]
    assert len(body) == MAX_BODY
    assert tokens_as(NONROOT, d.socket, [frame(body)], timeout=20) == ["ALLOW"]


def test_duplicate_keys_malformed(shared_daemon):
    d = shared_daemon
    p = payload_str(proposal("claims_agent", "read_customer_record", d.seq()))
    sig = __import__("jinnguard").sign(d.secret, p)
    dup_env = ('{"payload":%s,"payload":%s,"signature":"%s"}' % (json.dumps(p), json.dumps(p), sig)).encode()
    assert d.raw_token(frame(dup_env)) == MALFORMED
    s = d.seq()
    dup_payload = ('{"intent_name":"read_customer_record","agent_id":"claims_agent",'
                   '"sequence_counter":%d,"sequence_counter":%d}' % (s, s + 1))
    assert d.raw_token(frame(envelope_bytes(dup_payload, d.secret))) == MALFORMED
    nested = ('{"intent_name":"read_customer_record","agent_id":"billing_agent","sequence_counter":%d,'
              '"context_vars":{"spending_ceiling_usd":10,"spending_ceiling_usd":500}}' % d.seq())
    assert d.raw_token(frame(envelope_bytes(nested, d.secret))) == MALFORMED
    dup_agent = ('{"intent_name":"read_customer_record","agent_id":"claims_agent",'
                 '"agent_id":"billing_agent","sequence_counter":%d}' % d.seq())
    assert d.raw_token(frame(envelope_bytes(dup_agent, d.secret))) == MALFORMED


def test_trailing_bytes_after_envelope_malformed(shared_daemon):
    d = shared_daemon
    body = d.frame_for()[5:] + b"{}"
    assert d.raw_token(frame(body)) == MALFORMED


@pytest.mark.parametrize("raw", ["5.0", '"5"', "-1", "true", "null", "5e0"])
def test_sequence_counter_wrong_type_malformed(shared_daemon, raw):
    d = shared_daemon
    p = '{"intent_name":"read_customer_record","agent_id":"claims_agent","sequence_counter":%s}' % raw
    assert d.raw_token(frame(envelope_bytes(p, d.secret))) == MALFORMED


def test_missing_sequence_counter_malformed(shared_daemon):
    d = shared_daemon
    p = '{"intent_name":"read_customer_record","agent_id":"claims_agent"}'
    assert d.raw_token(frame(envelope_bytes(p, d.secret))) == MALFORMED


@pytest.mark.parametrize("field,value", [("intent_name", "5"), ("action_risk_score", '"high"'),
                                         ("context_vars", '{"x":"y"}'), ("context_vars", "[1]"),
                                         ("execute", '"yes"'), ("proposed_action", '"rm"'),
                                         ("requested_capabilities", '"network"')])
def test_known_field_wrong_type_malformed(shared_daemon, field, value):
    d = shared_daemon
    p = ('{"intent_name":"read_customer_record","agent_id":"claims_agent","sequence_counter":%d,'
         '"%s":%s}' % (d.seq(), field, value))
    if field == "intent_name":
        p = '{"agent_id":"claims_agent","sequence_counter":%d,"intent_name":5}' % d.seq()
    assert d.raw_token(frame(envelope_bytes(p, d.secret))) == MALFORMED


def test_sequence_counter_range(shared_daemon):
    d = shared_daemon
    for big in (2 ** 63, 2 ** 64 - 1, 2 ** 64, 2 ** 70):
        p = '{"intent_name":"read_customer_record","agent_id":"stream_agent","sequence_counter":%d}' % big
        assert d.raw_token(frame(envelope_bytes(p, d.secret))) == MALFORMED, big
    # 2^63-1 is the largest valid counter (above it one request could lock the agent out for good)
    p = payload_str(proposal("stream_agent", "read_customer_record", 2 ** 63 - 1, action_risk_score=10))
    assert tokens_as(NONROOT, d.socket, [frame(envelope_bytes(p, d.secret))]) == ["ALLOW"]


@pytest.mark.parametrize("lit", ["NaN", "Infinity", "-Infinity", "nan", "inf"])
def test_nan_infinity_literals_malformed(shared_daemon, lit):
    d = shared_daemon
    p = ('{"intent_name":"read_customer_record","agent_id":"claims_agent","sequence_counter":%d,'
         '"action_risk_score":%s}' % (d.seq(), lit))
    assert d.raw_token(frame(envelope_bytes(p, d.secret))) == MALFORMED
    assert d.raw_token(frame(b'{"payload":"x","signature":NaN}')) == MALFORMED


def test_huge_number_1e400_denied(shared_daemon):
    d = shared_daemon
    p = ('{"intent_name":"read_customer_record","agent_id":"claims_agent","sequence_counter":%d,'
         '"action_risk_score":1e400}' % d.seq())
    tok = d.raw_token(frame(envelope_bytes(p, d.secret)))
    assert tok in (MALFORMED, "DENY_RISK_CEILING_EXCEEDED"), tok
    p = ('{"intent_name":"read_customer_record","agent_id":"billing_agent","sequence_counter":%d,'
         '"context_vars":{"spending_ceiling_usd":-1e400}}' % d.seq())
    tok = d.raw_token(frame(envelope_bytes(p, d.secret)))
    assert tok.startswith("DENY_"), tok
    assert_alive(d)


def test_deep_nesting(shared_daemon):
    d = shared_daemon
    assert d.raw_token(frame(b"[" * 10000)) == MALFORMED
    assert d.raw_token(frame(b"{\"a\":" * 10000)) == MALFORMED
    deep = ('{"intent_name":"read_customer_record","agent_id":"claims_agent","sequence_counter":%d,'
            '"x":%s}' % (d.seq(), "[" * 10000 + "]" * 10000))
    assert d.raw_token(frame(envelope_bytes(deep, d.secret))) == MALFORMED
    assert d.raw_token(frame(envelope_bytes("[" * 10000, d.secret))) == MALFORMED
    assert_alive(d)


def test_truncated_frame_then_close(shared_daemon):
    d = shared_daemon
    for data in (b"\x00\x00", struct.pack(">IB", 100, 1) + b"x" * 10, d.frame_for()[:-3]):
        with connect(d.socket) as s:
            s.sendall(data)
        # no reply expected; the daemon must carry on
    assert_alive(d)


def test_header_only_then_silence_is_closed_without_reply(shared_daemon):
    d = shared_daemon
    with connect(d.socket) as s:
        s.sendall(struct.pack(">IB", 100, 1))
        data, closed = wait_closed(s, 10)
    assert closed, "daemon kept a stalled frame open for 10 s (contract: closed after 5 s)"
    assert data == b"", f"a stalled frame got a reply: {data!r}"
    with connect(d.socket) as s:
        s.sendall(struct.pack(">IB", 100, 1) + b"partial")
        data, closed = wait_closed(s, 10)
    assert closed and data == b""
    assert_alive(d)


def test_connect_and_close_gets_no_reply(shared_daemon):
    d = shared_daemon
    for _ in range(20):
        s = connect(d.socket)
        s.close()
    with connect(d.socket) as s:
        s.shutdown(socket.SHUT_WR)
        data, closed = wait_closed(s, 10)
        assert closed and data == b"", data
    assert_alive(d)
    status, body = d.http("/healthz")
    assert status == 200, body


def test_reply_header_and_body_each_in_one_read(shared_daemon):
    d = shared_daemon
    frames = [d.frame_for(), d.frame_for(signature="zzzz"), frame(b"[]"), bytes.fromhex("FFFFFFFFAB"),
              d.frame_for(action_risk_score=95), d.frame_for(agent="nobody_here")]
    for fr in frames:
        with connect(d.socket) as s:
            s.sendall(fr)
            body = recv_reply(s, strict=True)
            assert body is not None and body.endswith(b"\n")


def test_many_idle_connections_then_normal_request(shared_daemon):
    d = shared_daemon
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    idle = []
    try:
        for _ in range(2000):
            idle.append(connect(d.socket, timeout=10))
        assert_alive(d)
        gate = d.components()["jg-gate"]
        rss_kb = int(d_status_field(gate, "VmRSS").split()[0])
        assert rss_kb < 200 * 1024, f"gate VmRSS {rss_kb} kB with 2000 idle connections"
    finally:
        for s in idle:
            s.close()
    assert_alive(d)


def d_status_field(pid, field):
    from e2e_helpers import proc_status
    return proc_status(pid)[field]
