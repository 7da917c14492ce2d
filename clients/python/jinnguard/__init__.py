"""Python SDK for Jinn Guard (see PROTOCOL.md). Standard library only."""

from .client import (
    DEFAULT_SOCKET,
    MAX_BODY,
    PROTOCOL_VERSION,
    Connection,
    Guard,
    JinnGuardClient,
    JinnGuardDenied,
    JinnGuardError,
    ProtocolError,
    Reply,
    Sequence,
    TransportError,
    compact_json,
    frame,
    parse_reply,
    resolve_secret,
    resolve_socket_path,
    sequence,
    sign,
)

__all__ = [
    "DEFAULT_SOCKET", "MAX_BODY", "PROTOCOL_VERSION", "Connection", "Guard", "JinnGuardClient",
    "JinnGuardDenied", "JinnGuardError", "ProtocolError", "Reply", "Sequence", "TransportError",
    "compact_json", "frame", "parse_reply", "resolve_secret", "resolve_socket_path", "sequence", "sign",
]
__version__ = "0.2.0"
