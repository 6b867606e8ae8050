"""Policy decisions: every exchange is decided by Rego policy, deny by default.

``decide(engine, input_doc)`` is the one call the gateway makes; ``build_engine`` picks the
embedded regorus engine (default) or a real OPA server. See policies/README.md for the
input and output documents.
"""

from __future__ import annotations

from gateway.policy.bundle import DEFAULT_POLICY_DIR, PolicyBundle, PolicyModule
from gateway.policy.decision import (
    ENGINE_REASONS,
    Basis,
    Decision,
    DeniedField,
    Obligations,
)
from gateway.policy.engine import (
    PolicyEngine,
    PolicyEngineError,
    PolicyResultError,
    PolicyTimeoutError,
    PolicyUnreachableError,
    decide,
)
from gateway.policy.factory import DEFAULT_TIMEOUT_S, EngineKind, build_engine

__all__ = [
    "DEFAULT_POLICY_DIR",
    "DEFAULT_TIMEOUT_S",
    "ENGINE_REASONS",
    "Basis",
    "Decision",
    "DeniedField",
    "EngineKind",
    "Obligations",
    "PolicyBundle",
    "PolicyEngine",
    "PolicyEngineError",
    "PolicyModule",
    "PolicyResultError",
    "PolicyTimeoutError",
    "PolicyUnreachableError",
    "build_engine",
    "decide",
]
