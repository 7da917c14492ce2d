"""Python SDK for Jinn Guard (see PROTOCOL.md). Standard library only.

Ours: JinnGuardClient.propose -> Reply, Connection, AsyncJinnGuardClient, Guard(client, agent).check.
The original SDK's, unchanged: JinnGuardClient().send_proposal -> str, GuardVerdict, Guard().audit /
execute_shell / write_file / request, runtime_attestation, assert_locked_runtime, direct_network_probe.
"""

from .aio import AsyncJinnGuardClient
from .client import (
    DEFAULT_SOCKET,
    DEFAULT_TIMEOUT,
    MAX_BODY,
    PROTOCOL_VERSION,
    ConfigurationError,
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
    default_agent_id,
    default_socket_path,
    frame,
    load_guard_secret,
    parse_reply,
    resolve_secret,
    resolve_socket_path,
    sequence,
    sign,
)
from .sandbox import assert_locked_runtime, direct_network_probe, runtime_attestation
from .verdict import GuardVerdict

__all__ = [
    "DEFAULT_SOCKET", "DEFAULT_TIMEOUT", "MAX_BODY", "PROTOCOL_VERSION", "AsyncJinnGuardClient",
    "ConfigurationError", "Connection", "Guard", "GuardVerdict", "JinnGuardClient", "JinnGuardDenied",
    "JinnGuardError", "ProtocolError", "Reply", "Sequence", "TransportError", "assert_locked_runtime",
    "compact_json", "default_agent_id", "default_socket_path", "direct_network_probe", "frame",
    "load_guard_secret", "parse_reply", "resolve_secret", "resolve_socket_path", "runtime_attestation",
    "sequence", "sign",
]
__version__ = "0.3.0"
