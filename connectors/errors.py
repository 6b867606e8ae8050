"""Errors the SDK raises.

::

    ConnectorError
    ├── GatewayAPIError      the gateway answered with a problem document (status, reason)
    └── VerificationError    something the gateway or a sender sent does not verify
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every SDK error."""


class GatewayAPIError(ConnectorError):
    """The gateway refused a request; ``reason`` is its stable machine-readable code."""

    def __init__(self, status: int, reason: str, detail: str = "", body: dict[str, object] | None = None) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.body = body or {}


class VerificationError(ConnectorError):
    """A signature, manifest, receipt or checkpoint did not verify."""
