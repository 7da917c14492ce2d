"""Jinn Guard client: frames, envelopes, HMAC signatures and replies (PROTOCOL.md §1-§5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import threading
import time
from typing import Any, Dict, Optional, Union

PROTOCOL_VERSION = 1
MAX_BODY = 4 * 1024 * 1024  # 4 MiB, accepted; one byte more is refused
DEFAULT_SOCKET = "/tmp/jinnguard.sock"
HEADER = struct.Struct(">IB")

BytesLike = Union[bytes, bytearray, str]


class JinnGuardError(Exception):
    """Base class of every SDK error."""


class TransportError(JinnGuardError):
    """The connection failed, closed, or delivered a short/incomplete frame."""


class ProtocolError(JinnGuardError):
    """The daemon answered something that does not follow the reply grammar."""


class JinnGuardDenied(JinnGuardError):
    """Raised by Guard.check when the daemon answers a DENY_* token."""

    def __init__(self, token: str, reply: Optional["Reply"] = None):
        super().__init__(token)
        self.token = token
        self.reply = reply


# --------------------------------------------------------------------------- configuration

def resolve_socket_path(socket_path: Optional[str] = None) -> str:
    if socket_path:
        return socket_path
    for var in ("JINN_GUARD_SOCKET", "JINNGUARD_SOCKET"):
        value = os.environ.get(var)
        if value:
            return value
    return DEFAULT_SOCKET


def resolve_secret(secret: Optional[BytesLike] = None) -> Optional[bytes]:
    """Explicit secret, else JINN_GUARD_SECRET, else the file named by JINN_GUARD_SECRET_FILE or
    JINNGUARD_SECRET_FILE (whitespace-stripped at both ends). None when nothing is configured."""
    if secret is not None:
        return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    env = os.environ.get("JINN_GUARD_SECRET")
    if env:
        return env.encode("utf-8")
    for var in ("JINN_GUARD_SECRET_FILE", "JINNGUARD_SECRET_FILE"):
        path = os.environ.get(var)
        if path:
            with open(path, "rb") as fh:
                return fh.read().strip()
    return None


# --------------------------------------------------------------------------- wire helpers

def compact_json(value: Any) -> str:
    """The SDK's serialisation: compact separators, insertion order, no NaN/Infinity."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def sign(key: BytesLike, payload: str) -> str:
    """lowercase hex HMAC-SHA256(key, UTF-8 bytes of the payload string)."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    return hmac.new(bytes(key), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def frame(body: BytesLike, version: int = PROTOCOL_VERSION) -> bytes:
    """4-byte big-endian length + 1 version byte + body."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return HEADER.pack(len(body), version) + bytes(body)


class Reply:
    """A parsed daemon reply.

    token        "ALLOW", "CONSTRAIN" or a "DENY_*" token
    allowed      True for ALLOW and CONSTRAIN
    constraints  the CONSTRAIN constraints object, else None
    result       the broker's result object (execution), else None
    raw          the reply body bytes exactly as received
    """

    __slots__ = ("token", "allowed", "result", "constraints", "raw")

    def __init__(self, token: str, result: Optional[dict], constraints: Optional[dict], raw: bytes):
        self.token = token
        self.allowed = token in ("ALLOW", "CONSTRAIN")
        self.result = result
        self.constraints = constraints
        self.raw = raw

    @property
    def denied(self) -> bool:
        return not self.allowed

    def __repr__(self) -> str:
        return f"Reply(token={self.token!r}, result={self.result!r}, constraints={self.constraints!r})"


def parse_reply(body: bytes) -> Reply:
    """Parse a reply body following the §5 grammar (every body ends in a newline)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"reply is not UTF-8: {body[:80]!r}") from exc
    if not text.endswith("\n"):
        raise ProtocolError(f"reply does not end in a newline: {text[:200]!r}")
    lines = text[:-1].split("\n")
    first = lines[0]
    if not first.startswith("SIGNAL: "):
        raise ProtocolError(f"reply does not start with 'SIGNAL: ': {text[:200]!r}")
    token = first[len("SIGNAL: "):]
    rest = lines[1:]
    result = constraints = None
    try:
        if token == "ALLOW":
            if len(rest) > 1:
                raise ProtocolError(f"ALLOW with more than one extra line: {text[:200]!r}")
            if rest:
                result = json.loads(rest[0])
        elif token == "CONSTRAIN":
            if not 1 <= len(rest) <= 2:
                raise ProtocolError(f"CONSTRAIN without a constraints line: {text[:200]!r}")
            constraints = json.loads(rest[0])
            if len(rest) == 2:
                result = json.loads(rest[1])
        elif token.startswith("DENY_"):
            if rest:
                raise ProtocolError(f"DENY with extra lines: {text[:200]!r}")
        else:
            raise ProtocolError(f"unknown token {token!r}")
    except ValueError as exc:
        raise ProtocolError(f"reply line is not JSON: {text[:200]!r}") from exc
    return Reply(token, result, constraints, bytes(body))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    remaining = n
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise TransportError(f"connection closed after {n - remaining} of {n} body bytes")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_reply_body(sock: socket.socket) -> bytes:
    """Read one reply frame: the header with a single recv(5) (a short read is a transport error),
    the version must be 1, then the body."""
    try:
        header = sock.recv(5)
    except socket.timeout as exc:
        raise TransportError("timed out waiting for the reply") from exc
    except OSError as exc:
        raise TransportError(f"receive failed: {exc}") from exc
    if len(header) == 0:
        raise TransportError("connection closed without a reply")
    if len(header) != 5:
        raise TransportError(f"short reply header ({len(header)} bytes)")
    length, version = HEADER.unpack(header)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"reply has protocol version {version}")
    if length > MAX_BODY:
        raise ProtocolError(f"reply length {length} exceeds the maximum")
    try:
        return _recv_exact(sock, length)
    except socket.timeout as exc:
        raise TransportError("timed out reading the reply body") from exc
    except OSError as exc:
        raise TransportError(f"receive failed: {exc}") from exc


# --------------------------------------------------------------------------- sequence counters

class Sequence:
    """Strictly increasing sequence counters that start from the clock (microseconds since the
    epoch), so that a restarted client never reuses a number the daemon has already accepted."""

    def __init__(self, start: Optional[int] = None):
        self._lock = threading.Lock()
        self._last = (start - 1) if start is not None else 0

    def next(self) -> int:
        with self._lock:
            now = time.time_ns() // 1000
            self._last = max(self._last + 1, now)
            return self._last

    __next__ = next

    def __iter__(self):
        return self

    def __call__(self) -> int:
        return self.next()


def sequence(start: Optional[int] = None) -> Sequence:
    return Sequence(start)


# --------------------------------------------------------------------------- client

def build_proposal(agent_id: Optional[str], intent_name: Optional[str], sequence_counter: int,
                   action_risk_score: Optional[float] = None,
                   context_vars: Optional[Dict[str, float]] = None,
                   proposed_action: Optional[dict] = None, execute: bool = False,
                   session_privilege_bit: float = 0.0, **extra: Any) -> Dict[str, Any]:
    """The proposal dict in the SDK's field order (PROTOCOL §9 vector 3)."""
    payload: Dict[str, Any] = {}
    payload["intent_name"] = intent_name
    if agent_id is not None:
        payload["agent_id"] = agent_id
    payload["sequence_counter"] = sequence_counter
    payload["session_privilege_bit"] = float(session_privilege_bit)
    if action_risk_score is not None:
        payload["action_risk_score"] = float(action_risk_score)
    if context_vars is not None:
        payload["context_vars"] = context_vars
    if proposed_action is not None:
        payload["proposed_action"] = proposed_action
    if execute:
        payload["execute"] = True
    payload.update(extra)
    return payload


class JinnGuardClient:
    def __init__(self, socket_path: Optional[str] = None, secret: Optional[BytesLike] = None,
                 timeout: float = 5.0):
        self.socket_path = resolve_socket_path(socket_path)
        self._secret = resolve_secret(secret)
        self.timeout = timeout
        self._sequence = Sequence()

    # -- signing -------------------------------------------------------------
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise JinnGuardError("no secret: set JINN_GUARD_SECRET or JINN_GUARD_SECRET_FILE")
        return self._secret

    def sign(self, payload_str: str) -> str:
        return sign(self.secret, payload_str)

    def envelope(self, payload: Union[Dict[str, Any], str]) -> bytes:
        payload_str = payload if isinstance(payload, str) else compact_json(payload)
        return compact_json({"payload": payload_str, "signature": self.sign(payload_str)}).encode("utf-8")

    @staticmethod
    def frame(body: BytesLike) -> bytes:
        return frame(body)

    def next_sequence(self) -> int:
        return self._sequence.next()

    def proposal_frame(self, agent_id, intent_name, sequence_counter, **kwargs) -> bytes:
        return frame(self.envelope(build_proposal(agent_id, intent_name, sequence_counter, **kwargs)))

    # -- transport ------------------------------------------------------------
    def connect(self) -> "Connection":
        return Connection(self, self.socket_path, self.timeout)

    def send_frame(self, data: bytes) -> Reply:
        """One connection, one request, one reply."""
        with self.connect() as conn:
            return conn.send_frame(data)

    def propose(self, agent_id: Optional[str], intent_name: Optional[str], sequence_counter: int,
                action_risk_score: Optional[float] = None,
                context_vars: Optional[Dict[str, float]] = None,
                proposed_action: Optional[dict] = None, execute: bool = False, **extra: Any) -> Reply:
        """Send one proposal on a fresh connection (as the original SDK did)."""
        return self.send_frame(self.proposal_frame(
            agent_id, intent_name, sequence_counter, action_risk_score=action_risk_score,
            context_vars=context_vars, proposed_action=proposed_action, execute=execute, **extra))


class Connection:
    """Several requests on one connection. The daemon closes after any DENY."""

    def __init__(self, client: JinnGuardClient, socket_path: str, timeout: float = 5.0):
        self.client = client
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(socket_path)
        except OSError as exc:
            self.sock.close()
            raise TransportError(f"cannot connect to {socket_path}: {exc}") from exc
        self.closed = False

    def send_frame(self, data: bytes) -> Reply:
        if self.closed:
            raise TransportError("connection already closed")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"send failed: {exc}") from exc
        try:
            reply = parse_reply(read_reply_body(self.sock))
        except JinnGuardError:
            self.close()
            raise
        if not reply.allowed:
            self.close()
        return reply

    def propose(self, agent_id, intent_name, sequence_counter, **kwargs) -> Reply:
        return self.send_frame(self.client.proposal_frame(agent_id, intent_name, sequence_counter, **kwargs))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Guard:
    """`Guard(client, agent_id).check(intent, ...)` returns the Reply when allowed (ALLOW or
    CONSTRAIN) and raises JinnGuardDenied(token) otherwise."""

    def __init__(self, client: JinnGuardClient, agent_id: str, sequence: Optional[Sequence] = None):
        self.client = client
        self.agent_id = agent_id
        self.sequence = sequence or Sequence()

    def check(self, intent: Optional[str], action_risk_score: Optional[float] = None,
              context_vars: Optional[Dict[str, float]] = None, proposed_action: Optional[dict] = None,
              execute: bool = False, **extra: Any) -> Reply:
        reply = self.client.propose(self.agent_id, intent, self.sequence.next(),
                                    action_risk_score=action_risk_score, context_vars=context_vars,
                                    proposed_action=proposed_action, execute=execute, **extra)
        if not reply.allowed:
            raise JinnGuardDenied(reply.token, reply)
        return reply
