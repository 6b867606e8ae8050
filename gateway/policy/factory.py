"""Build the configured policy engine: switching engines is one setting."""

from __future__ import annotations

from typing import Literal

from gateway.policy.bundle import PolicyBundle
from gateway.policy.engine import PolicyEngine

__all__ = ["DEFAULT_TIMEOUT_S", "EngineKind", "build_engine"]

EngineKind = Literal["embedded", "opa"]

# A decision on loopback takes about 2 ms; a slower OPA is treated as down.
DEFAULT_TIMEOUT_S = 0.5


def build_engine(
    kind: EngineKind,
    *,
    bundle: PolicyBundle,
    opa_url: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    token: str | None = None,
    pulled: bool = False,
) -> PolicyEngine:
    """The embedded regorus engine (default) or a real OPA server at ``opa_url`` (``pulled``: OPA pulls the
    signed bundle itself, and nothing is pushed to it)."""
    if kind == "embedded":
        from gateway.policy._regorus import EmbeddedPolicyEngine

        return EmbeddedPolicyEngine(bundle)
    if kind == "opa":
        if not opa_url:
            raise ValueError("the opa engine needs opa_url")
        from gateway.policy._remote import RemotePolicyEngine

        return RemotePolicyEngine(opa_url, bundle, timeout_s, token, pulled=pulled)
    raise ValueError(f"unknown policy engine kind: {kind!r}")
