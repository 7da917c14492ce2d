"""asyncio client: the same proposals, signatures and replies as JinnGuardClient, on one kept
connection per client (reopened when the daemon closes it, e.g. after a DENY)."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional

from .client import (DEFAULT_TIMEOUT, HEADER, MAX_BODY, PROTOCOL_VERSION, BytesLike, JinnGuardClient,
                     JinnGuardError, ProtocolError, Reply, TransportError, _connect_hint, _UNSET,
                     parse_reply)


class AsyncJinnGuardClient:
    """``async with AsyncJinnGuardClient(socket_path=..., secret=...) as c: await c.propose(...)``.
    Requests on one client are sent one at a time (the protocol answers in order on a connection);
    use several clients for concurrency."""

    def __init__(self, socket_path: Optional[str] = None, secret: Optional[BytesLike] = None,
                 timeout: float = DEFAULT_TIMEOUT, *, secret_file: Optional[str] = None,
                 agent_id: Optional[str] = None):
        self._sync = JinnGuardClient(socket_path, secret, timeout, secret_file=secret_file, agent_id=agent_id)
        self.timeout = float(timeout)
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._lock = asyncio.Lock()

    @property
    def socket_path(self) -> str:
        return self._sync.socket_path

    @property
    def agent_id(self) -> Optional[str]:
        return self._sync.agent_id

    def next_sequence(self) -> int:
        return self._sync.next_sequence()

    async def _open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self.socket_path), self.timeout)
        except asyncio.TimeoutError as exc:
            raise TransportError(f"cannot connect to {self.socket_path}: timed out") from exc
        except OSError as exc:
            raise TransportError(_connect_hint(self.socket_path, exc)) from exc

    async def _exchange(self, data: bytes) -> Reply:
        assert self._reader is not None and self._writer is not None
        self._writer.write(data)
        try:
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            await self.aclose()
            raise _NotSent(f"send failed: {exc}") from exc
        try:
            header = await asyncio.wait_for(self._reader.readexactly(5), self.timeout)
            length, version = HEADER.unpack(header)
            if version != PROTOCOL_VERSION:
                raise ProtocolError(f"reply has protocol version {version}")
            if length > MAX_BODY:
                raise ProtocolError(f"reply length {length} exceeds the maximum")
            body = await asyncio.wait_for(self._reader.readexactly(length), self.timeout)
        except asyncio.IncompleteReadError as exc:
            await self.aclose()
            if not exc.partial and len(exc.partial) == 0 and exc.expected == 5:
                raise _NotSent("connection closed without a reply") from exc
            raise TransportError(f"connection closed after {len(exc.partial)} of {exc.expected} bytes") from exc
        except asyncio.TimeoutError as exc:
            await self.aclose()
            raise TransportError("timed out waiting for the reply") from exc
        except JinnGuardError:
            await self.aclose()
            raise
        reply = parse_reply(body)
        if not reply.allowed:
            await self.aclose()  # the daemon closes after a DENY
        return reply

    async def send_frame(self, data: bytes) -> Reply:
        async with self._lock:
            for attempt in (0, 1):
                fresh = self._writer is None
                if fresh:
                    await self._open()
                try:
                    return await self._exchange(data)
                except _NotSent:
                    # Only a kept connection the daemon had already closed is retried: it never saw this.
                    if fresh or attempt:
                        raise
            raise TransportError("unreachable")

    async def propose(self, agent_id: Optional[str] = _UNSET, intent_name: Optional[str] = None,
                      sequence_counter: Optional[int] = None, action_risk_score: Optional[float] = None,
                      context_vars: Optional[Dict[str, float]] = None, proposed_action: Optional[dict] = None,
                      execute: bool = False, **extra: Any) -> Reply:
        if agent_id is _UNSET:
            agent_id = self._sync.agent_id
        if sequence_counter is None:
            sequence_counter = self._sync.next_sequence()
        return await self.send_frame(self._sync.proposal_frame(
            agent_id, intent_name, sequence_counter, action_risk_score=action_risk_score,
            context_vars=context_vars, proposed_action=proposed_action, execute=execute, **extra))

    async def aclose(self) -> None:
        w, self._reader, self._writer = self._writer, None, None
        if w is not None:
            w.close()
            try:
                await w.wait_closed()
            except OSError:
                pass

    async def __aenter__(self) -> "AsyncJinnGuardClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class _NotSent(TransportError):
    """The kept connection was closed before this request reached the daemon."""
