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

from .verdict import GuardVerdict

PROTOCOL_VERSION = 1
MAX_BODY = 4 * 1024 * 1024  # 4 MiB, accepted; one byte more is refused
DEFAULT_SOCKET = "/tmp/jinnguard.sock"
DEFAULT_TIMEOUT = 5.0
DEFAULT_SOCKET_TIMEOUT_SECS = DEFAULT_TIMEOUT  # the original SDK's name
MAX_RESPONSE_BYTES = MAX_BODY
HEADER = struct.Struct(">IB")

BytesLike = Union[bytes, bytearray, str]


class JinnGuardError(Exception):
    """Base class of every SDK error."""


class TransportError(JinnGuardError):
    """The connection failed, closed, or delivered a short/incomplete frame."""


class ProtocolError(JinnGuardError):
    """The daemon answered something that does not follow the reply grammar."""


class ConfigurationError(JinnGuardError, KeyError):
    """No secret, or a secret file that cannot be read (a KeyError too, as the original SDK raised)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


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


def resolve_secret(secret: Optional[BytesLike] = None, secret_file: Optional[str] = None) -> Optional[bytes]:
    """Explicit secret, else the explicit secret file, else JINN_GUARD_SECRET, else the file named by
    JINN_GUARD_SECRET_FILE or JINNGUARD_SECRET_FILE (whitespace-stripped at both ends). None when
    nothing is configured; ConfigurationError when a named file cannot be read."""
    if secret is not None:
        return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if secret_file is None:
        env = os.environ.get("JINN_GUARD_SECRET")
        if env:
            return env.encode("utf-8")
        secret_file = os.environ.get("JINN_GUARD_SECRET_FILE") or os.environ.get("JINNGUARD_SECRET_FILE")
    if secret_file:
        return read_secret_file(secret_file)
    return None


def read_secret_file(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read().strip()
    except PermissionError as exc:
        raise ConfigurationError(
            f"cannot read the key file {path}: permission denied. Ask root for a key of your own: "
            f"jinnguard keys issue --agent AGENT_ID --user {_user_name()}") from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path}: {exc.strerror or exc}") from exc


def _user_name() -> str:
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


def default_socket_path() -> str:
    """The original SDK's name for resolve_socket_path()."""
    return resolve_socket_path()


def load_guard_secret() -> bytes:
    """The original SDK's loader: like resolve_secret(), but raises when nothing is configured."""
    key = resolve_secret()
    if key is None:
        raise ConfigurationError("CRITICAL_SECURITY_HALT: set JINN_GUARD_SECRET or "
                                 "JINN_GUARD_SECRET_FILE before creating a JinnGuardClient.")
    return key


def default_agent_id() -> Optional[str]:
    """JINN_AGENT_ID, JINNGUARD_AGENT_ID or JINN_GUARD_AGENT_ID (the original SDK's agent identity)."""
    return (os.environ.get("JINN_AGENT_ID") or os.environ.get("JINNGUARD_AGENT_ID")
            or os.environ.get("JINN_GUARD_AGENT_ID"))


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

    @property
    def constrained(self) -> bool:
        return self.token == "CONSTRAIN"

    @property
    def signal(self) -> str:
        """The reply's first line, e.g. ``SIGNAL: ALLOW``."""
        return "SIGNAL: " + self.token

    def __str__(self) -> str:
        return self.token

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
    """Strictly increasing sequence counters that start from the clock (nanoseconds since the epoch,
    the original SDK's scale), so that a restarted client, another process of the same agent, or code
    written for the original SDK never reuses a number the daemon has already accepted."""

    def __init__(self, start: Optional[int] = None):
        self._lock = threading.Lock()
        self._last = (start - 1) if start is not None else 0

    def next(self) -> int:
        with self._lock:
            now = time.time_ns()
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


_UNSET: Any = object()


class JinnGuardClient:
    """A client of one daemon.

    Our API: ``propose(agent_id, intent, [sequence_counter], ...) -> Reply`` (counters from the
    client's clock-based Sequence when not given), ``connect()`` for a connection of several requests,
    and ``with JinnGuardClient(...) as c:`` to keep one connection open across ``propose`` calls
    (reopened when the daemon closes it, e.g. after a DENY).

    The original SDK's API: ``send_proposal(proposal, risk_score=..., ...) -> str`` (the reply text or
    ``TRANSPORT_ERROR: ...``, never an exception) and the constructor
    ``JinnGuardClient(socket_path=None, timeout=5.0, max_response_bytes=4 MiB)``; a number in the second
    position is taken as the timeout, as the original read it.

    Socket: ``socket_path``, else JINN_GUARD_SOCKET, JINNGUARD_SOCKET, /tmp/jinnguard.sock.
    Key: ``secret`` (or ``secret_key``), ``secret_file``, else JINN_GUARD_SECRET, JINN_GUARD_SECRET_FILE,
    JINNGUARD_SECRET_FILE. Agent: ``agent_id``, used when ``propose`` is not given one.
    """

    def __init__(self, socket_path: Optional[str] = None, secret: Any = None,
                 timeout: float = DEFAULT_TIMEOUT, max_response_bytes: int = MAX_BODY, *,
                 secret_file: Optional[str] = None, secret_key: Optional[BytesLike] = None,
                 agent_id: Optional[str] = None, keep_alive: bool = False):
        if isinstance(secret, (int, float)) and not isinstance(secret, bool):
            # JinnGuardClient(path, 2.0): the original SDK's second parameter was the timeout.
            timeout, secret = float(secret), None
        if secret is None:
            secret = secret_key
        self.socket_path = resolve_socket_path(socket_path)
        self._secret = resolve_secret(secret, secret_file)
        self.timeout = float(timeout)
        self.max_response_bytes = int(max_response_bytes)
        self.agent_id = agent_id
        self.keep_alive = keep_alive
        self._sequence = Sequence()
        self._kept: Optional[Connection] = None
        self._lock = threading.Lock()
        # The original SDK's last socket (it exposed it as `sock`).
        self.sock: Optional[socket.socket] = None

    # -- signing -------------------------------------------------------------
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise ConfigurationError("no secret: pass secret= or secret_file=, or set JINN_GUARD_SECRET or "
                                     "JINN_GUARD_SECRET_FILE (an ordinary user gets a key of their own with "
                                     "`jinnguard keys issue --agent AGENT_ID --user NAME`, run as root)")
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

    def proposal_frame(self, agent_id: Optional[str], intent_name: Optional[str], sequence_counter: int,
                       **kwargs: Any) -> bytes:
        return frame(self.envelope(build_proposal(agent_id, intent_name, sequence_counter, **kwargs)))

    # -- transport ------------------------------------------------------------
    def connect(self) -> "Connection":
        return Connection(self, self.socket_path, self.timeout)

    def send_frame(self, data: bytes) -> Reply:
        """One request and its reply: on the kept connection when keep_alive (or inside ``with``),
        else on a fresh one."""
        if not self.keep_alive:
            with self.connect() as conn:
                return conn.send_frame(data)
        with self._lock:
            for attempt in (0, 1):
                conn = self._kept
                if conn is None or conn.closed:
                    conn = self._kept = self.connect()
                try:
                    return conn.send_frame(data)
                except _NotDelivered:
                    # The daemon had closed the kept connection (idle, or after a DENY) before this
                    # request reached it: nothing was decided, so it is safe to send it once more.
                    self._kept = None
                    if attempt:
                        raise
            raise TransportError("unreachable")

    def propose(self, agent_id: Optional[str] = _UNSET, intent_name: Optional[str] = None,
                sequence_counter: Optional[int] = None, action_risk_score: Optional[float] = None,
                context_vars: Optional[Dict[str, float]] = None,
                proposed_action: Optional[dict] = None, execute: bool = False, **extra: Any) -> Reply:
        """Send one proposal; returns the Reply (ALLOW, CONSTRAIN or DENY_*). ``agent_id`` defaults to
        the client's; ``sequence_counter`` to the client's next counter."""
        if agent_id is _UNSET:
            agent_id = self.agent_id
        if sequence_counter is None:
            sequence_counter = self.next_sequence()
        return self.send_frame(self.proposal_frame(
            agent_id, intent_name, sequence_counter, action_risk_score=action_risk_score,
            context_vars=context_vars, proposed_action=proposed_action, execute=execute, **extra))

    def close(self) -> None:
        with self._lock:
            if self._kept is not None:
                self._kept.close()
                self._kept = None

    def __enter__(self) -> "JinnGuardClient":
        self.keep_alive = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the original SDK's API ------------------------------------------------
    def _next_sequence(self) -> int:
        return self.next_sequence()

    def _read_n(self, n: int) -> bytes:
        assert self.sock is not None
        data = bytearray()
        while len(data) < n:
            packet = self.sock.recv(n - len(data))
            if not packet:
                break
            data.extend(packet)
        return bytes(data)

    def send_proposal(self, proposal: Union[str, Dict[str, Any]], risk_score: Optional[float] = None,
                      sequence_counter: Optional[int] = None, privilege: float = 0.0,
                      prompt: Optional[str] = None, plan: Optional[str] = None,
                      source_code: Optional[str] = None, requested_capabilities: Optional[list] = None,
                      execute: bool = False) -> str:
        """The original SDK's call: ``proposal`` is an intent name or a whole proposal dict; returns the
        reply text (``SIGNAL: ...``) or ``TRANSPORT_ERROR: <why>``, one connection per call. Wrap it in
        GuardVerdict to read it."""
        payload = self._build_payload(proposal, risk_score=risk_score, sequence_counter=sequence_counter,
                                      privilege=privilege, prompt=prompt, plan=plan, source_code=source_code,
                                      requested_capabilities=requested_capabilities, execute=execute)
        try:
            data = self.proposal_bytes(payload)
        except JinnGuardError as exc:
            return f"TRANSPORT_ERROR: {exc}"
        try:
            # socket.socket looked up here, at call time: the original SDK's tests patch it.
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(self.timeout)
            self.sock.connect(self.socket_path)
            self.sock.sendall(data)
            resp_header = self._read_n(5)
            if len(resp_header) < 5:
                return "TRANSPORT_ERROR: Truncated response header"
            resp_len, resp_ver = HEADER.unpack(resp_header)
            if resp_ver != 1:
                return f"TRANSPORT_ERROR: Unsupported response frame version {resp_ver}"
            if resp_len > self.max_response_bytes:
                return f"TRANSPORT_ERROR: Response frame too large ({resp_len} > {self.max_response_bytes})"
            resp_data = self._read_n(resp_len)
            if len(resp_data) < resp_len:
                return "TRANSPORT_ERROR: Truncated response body"
            return resp_data.decode("utf-8")
        except socket.timeout:
            return "TRANSPORT_ERROR: Socket timeout"
        except Exception as e:  # the original's contract: a string, never an exception
            return f"TRANSPORT_ERROR: {e}"
        finally:
            if self.sock:
                self.sock.close()

    def proposal_bytes(self, payload: Dict[str, Any]) -> bytes:
        """The framed, signed envelope of a payload dict (its keys in their order)."""
        return frame(self.envelope(payload))

    def _build_payload(self, proposal: Union[str, Dict[str, Any]], risk_score: Optional[float],
                       sequence_counter: Optional[int], privilege: float, prompt: Optional[str],
                       plan: Optional[str], source_code: Optional[str],
                       requested_capabilities: Optional[list], execute: bool) -> Dict[str, Any]:
        """The original SDK's payload: the same keys in the same order."""
        if isinstance(proposal, dict):
            payload = dict(proposal)
        else:
            seq = int(sequence_counter) if sequence_counter is not None else self._next_sequence()
            payload = {
                "intent_name": str(proposal),
                "session_privilege_bit": float(privilege),
                "action_risk_score": float(risk_score if risk_score is not None else 0.0),
                "sequence_counter": seq,
            }
            if self.agent_id is not None:
                payload["agent_id"] = self.agent_id
        if prompt is not None:
            payload["prompt"] = prompt
        if plan is not None:
            payload["plan"] = plan
        if source_code is not None:
            payload["source_code"] = source_code
        if requested_capabilities is not None:
            payload["requested_capabilities"] = list(requested_capabilities)
        if execute:
            payload["execute"] = True
        if "sequence_counter" not in payload:
            payload["sequence_counter"] = int(sequence_counter) if sequence_counter is not None else self._next_sequence()
        payload.setdefault("session_privilege_bit", float(privilege))
        if risk_score is not None:
            payload.setdefault("action_risk_score", float(risk_score))
        return payload


class _NotDelivered(TransportError):
    """The request could not be written: the daemon never saw it."""


class Connection:
    """Several requests on one connection. The daemon closes after any DENY."""

    def __init__(self, client: JinnGuardClient, socket_path: str, timeout: float = DEFAULT_TIMEOUT):
        self.client = client
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(socket_path)
        except OSError as exc:
            self.sock.close()
            raise TransportError(_connect_hint(socket_path, exc)) from exc
        self.closed = False

    def send_frame(self, data: bytes) -> Reply:
        if self.closed:
            raise TransportError("connection already closed")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise _NotDelivered(f"send failed: {exc}") from exc
        try:
            reply = parse_reply(read_reply_body(self.sock))
        except JinnGuardError:
            self.close()
            raise
        if not reply.allowed:
            self.close()
        return reply

    def propose(self, agent_id: Optional[str], intent_name: Optional[str], sequence_counter: Optional[int] = None,
                **kwargs: Any) -> Reply:
        if sequence_counter is None:
            sequence_counter = self.client.next_sequence()
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

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _connect_hint(path: str, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"cannot connect to {path}: no such socket (is the daemon running? `make run` starts it)"
    if isinstance(exc, PermissionError):
        return (f"cannot connect to {path}: permission denied (every directory above the socket must be "
                f"searchable by this user; see --socket-path and --socket-mode)")
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {path}: connection refused (the daemon is not running)"
    return f"cannot connect to {path}: {why}"


class Guard:
    """Two ways to make one:

    ``Guard(client, agent_id)`` (ours): ``check(intent, ...)`` returns the Reply when allowed (ALLOW or
    CONSTRAIN) and raises JinnGuardDenied(token) otherwise.

    ``Guard(socket_path=None, agent_id=None)`` (the original SDK's): ``audit(privilege, risk_score)``,
    ``execute_shell(command)``, ``write_file(path, contents)``, ``request(method, url)`` return a
    GuardVerdict; the agent defaults to JINN_AGENT_ID. Both kinds have both sets of methods.
    """

    def __init__(self, client: Union[JinnGuardClient, str, None] = None, agent_id: Optional[str] = None,
                 sequence: Optional[Sequence] = None, *, socket_path: Optional[str] = None):
        if isinstance(client, JinnGuardClient):
            self.client = client
        else:
            self.client = JinnGuardClient(socket_path=socket_path or client)
            # The original SDK failed here, not at the first request, when no key was configured.
            _ = self.client.secret
        self.agent_id = agent_id or default_agent_id()
        self.sequence = sequence or Sequence()

    def __enter__(self) -> "Guard":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return False

    # -- ours -------------------------------------------------------------------
    def check(self, intent: Optional[str], action_risk_score: Optional[float] = None,
              context_vars: Optional[Dict[str, float]] = None, proposed_action: Optional[dict] = None,
              execute: bool = False, **extra: Any) -> Reply:
        reply = self.client.propose(self.agent_id, intent, self.sequence.next(),
                                    action_risk_score=action_risk_score, context_vars=context_vars,
                                    proposed_action=proposed_action, execute=execute, **extra)
        if not reply.allowed:
            raise JinnGuardDenied(reply.token, reply)
        return reply

    # -- the original SDK's -----------------------------------------------------
    def audit(self, privilege: float, risk_score: float, intent_name: str = "agent_action",
              agent_id: Optional[str] = None) -> GuardVerdict:
        response = self.client.send_proposal(self._with_agent_id(intent_name, agent_id), risk_score=risk_score,
                                             sequence_counter=self.sequence.next(), privilege=privilege)
        return GuardVerdict(response)

    def execute_shell(self, command: str, risk_score: float = 20.0, intent_name: str = "execute_shell",
                      agent_id: Optional[str] = None) -> GuardVerdict:
        """Broker-run shell command."""
        return self._execute_proposal(self._with_agent_id({
            "intent_name": intent_name, "action_risk_score": float(risk_score),
            "proposed_action": {"kind": "shell_command", "command": command}}, agent_id))

    def write_file(self, path: str, contents: str, risk_score: float = 15.0, intent_name: str = "write_file",
                   agent_id: Optional[str] = None) -> GuardVerdict:
        """Broker-performed file write."""
        return self._execute_proposal(self._with_agent_id({
            "intent_name": intent_name, "action_risk_score": float(risk_score),
            "proposed_action": {"kind": "file_write", "path": path, "contents": contents}}, agent_id))

    def request(self, method: str, url: str, risk_score: float = 20.0, intent_name: str = "network_request",
                agent_id: Optional[str] = None) -> GuardVerdict:
        """Broker-performed network request."""
        return self._execute_proposal(self._with_agent_id({
            "intent_name": intent_name, "action_risk_score": float(risk_score),
            "proposed_action": {"kind": "network_request", "method": method, "url": url}}, agent_id))

    def _with_agent_id(self, proposal: Union[str, Dict[str, Any]], agent_id: Optional[str] = None) -> Union[str, Dict[str, Any]]:
        effective = agent_id or self.agent_id
        if not effective:
            return proposal
        if isinstance(proposal, dict):
            out = dict(proposal)
            out.setdefault("agent_id", effective)
            return out
        return {"intent_name": str(proposal), "agent_id": effective}

    def _execute_proposal(self, proposal: Any) -> GuardVerdict:
        proposal["sequence_counter"] = self.sequence.next()
        proposal.setdefault("context_vars", {"spending_ceiling_usd": 0.0, "privilege_escalation_depth": 0.0})
        return GuardVerdict(self.client.send_proposal(proposal, execute=True))
