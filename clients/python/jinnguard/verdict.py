"""GuardVerdict: the original SDK's view of a reply (its raw text), kept so that code written for it
runs unchanged. New code can use Reply (client.py), which parses strictly."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional


class GuardVerdict:
    """The daemon's decision as the original SDK returned it: built from the reply text (or a
    ``TRANSPORT_ERROR: ...`` string), with ``is_allowed()``, ``is_constrained()``, ``is_denied()``,
    ``get_constraints()``, ``get_result()``, ``signal()``."""

    def __init__(self, response: str):
        self.response = response
        self._constraints: Dict[str, Any] = {}
        self._result: Optional[Dict[str, Any]] = None
        self._parse()

    def _parse(self) -> None:
        lines = self.response.strip().splitlines()
        if len(lines) >= 2 and "CONSTRAIN" in lines[0]:
            try:
                self._constraints = json.loads(lines[1])
            except (json.JSONDecodeError, IndexError):
                self._constraints = {}
            if len(lines) >= 3:
                try:
                    self._result = json.loads(lines[2])
                except (json.JSONDecodeError, IndexError):
                    self._result = None
        elif len(lines) >= 2 and "ALLOW" in lines[0]:
            try:
                self._result = json.loads(lines[1])
            except (json.JSONDecodeError, IndexError):
                self._result = None

    def signal(self) -> str:
        """The first line of the reply, e.g. ``SIGNAL: ALLOW``."""
        return self.response.splitlines()[0].strip() if self.response else ""

    @property
    def token(self) -> str:
        """The token alone (``ALLOW``, ``CONSTRAIN``, ``DENY_*``), or the transport error line."""
        s = self.signal()
        return s[len("SIGNAL: "):] if s.startswith("SIGNAL: ") else s

    def is_allowed(self) -> bool:
        s = self.signal()
        return s == "SIGNAL: ALLOW" or s.startswith("SIGNAL: ALLOW ") or self.is_constrained()

    def is_constrained(self) -> bool:
        s = self.signal()
        return s == "SIGNAL: CONSTRAIN" or s.startswith("SIGNAL: CONSTRAIN ")

    def is_denied(self) -> bool:
        """True for any denial and for a transport failure (fail closed)."""
        s = self.signal()
        return s.startswith("SIGNAL: DENY") or s.startswith("TRANSPORT_ERROR") or not self.is_allowed()

    def get_constraints(self) -> Dict[str, Any]:
        return self._constraints

    def get_result(self) -> Optional[Dict[str, Any]]:
        return self._result

    def rate_limit_rps(self) -> Optional[int]:
        return self._constraints.get("rate_limit_rps")

    def output_byte_limit(self) -> Optional[int]:
        return self._constraints.get("output_byte_limit")

    def __repr__(self) -> str:
        if self.is_constrained():
            return f"<GuardVerdict: CONSTRAIN constraints={self._constraints}>"
        if self.is_allowed():
            return "<GuardVerdict: ALLOW>"
        return f"<GuardVerdict: DENY signal={self.signal()!r}>"
