"""The policy engine interface and the one function the gateway calls to decide.

Every exchange is decided by ``decide(engine, input_doc)``. It fails closed: an undefined
answer, any exception (including pyo3's ``PanicException``, a ``BaseException``), a timeout,
a malformed answer, or an answer computed from another policy version is a deny with its
own reason code. Only the reason and the engine name are logged, never input values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from gateway.policy.decision import (
    POLICY_ENGINE_ERROR,
    POLICY_ENGINE_UNREACHABLE,
    POLICY_MALFORMED_RESULT,
    POLICY_TIMEOUT,
    POLICY_UNDEFINED,
    POLICY_VERSION_MISMATCH,
    Decision,
)

__all__ = [
    "PolicyEngine",
    "PolicyEngineError",
    "PolicyResultError",
    "PolicyTimeoutError",
    "PolicyUnreachableError",
    "decide",
]

logger = logging.getLogger("gateway.policy")

# Exceptions that must never be swallowed: the process or task is being interrupted.
_NEVER_CAUGHT = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


class PolicyEngineError(Exception):
    """An engine could not produce an answer."""


class PolicyTimeoutError(PolicyEngineError):
    """An engine did not answer within its time limit."""


class PolicyUnreachableError(PolicyEngineError):
    """A remote engine could not be reached at all."""


class PolicyResultError(PolicyEngineError):
    """An engine answered, but not with a decision document (not even an object)."""


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates ``data.gateway.decision`` for one input document."""

    name: str
    version: str
    """The version of the policy bundle this engine should be running."""

    def evaluate(self, input_doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The raw decision document, or None when undefined. May raise."""
        ...

    def ready(self) -> bool:
        """Whether the engine can answer now (with the expected policy version)."""
        ...

    def close(self) -> None:
        """Release what the engine holds."""
        ...


def decide(engine: PolicyEngine, input_doc: Mapping[str, Any]) -> Decision:
    """Ask the engine; never raise, and deny whenever the answer cannot be trusted."""
    fields = _requested_fields(input_doc)
    try:
        document = engine.evaluate(input_doc)
    except _NEVER_CAUGHT:
        raise
    except PolicyTimeoutError:
        return _deny(engine, POLICY_TIMEOUT, fields)
    except PolicyUnreachableError:
        return _deny(engine, POLICY_ENGINE_UNREACHABLE, fields)
    except PolicyResultError:
        return _deny(engine, POLICY_MALFORMED_RESULT, fields)
    except BaseException as exc:  # pyo3 PanicException derives from BaseException
        logger.warning("policy engine %s failed (%s)", engine.name, type(exc).__name__)
        return _deny(engine, POLICY_ENGINE_ERROR, fields, logged=True)
    if document is None:
        return _deny(engine, POLICY_UNDEFINED, fields)
    decision = Decision.from_document(document)
    if decision.reasons == (POLICY_MALFORMED_RESULT,):
        return _deny(engine, POLICY_MALFORMED_RESULT, fields)
    if decision.reasons == (POLICY_UNDEFINED,):
        # The policy's own default decision: it could not build an answer.
        return _deny(engine, POLICY_UNDEFINED, fields)
    if decision.policy_version != engine.version:
        return _deny(engine, POLICY_VERSION_MISMATCH, fields)
    if not set(decision.permitted_fields) <= set(fields):
        # A policy that permits what was never asked for is broken: share nothing.
        return _deny(engine, POLICY_MALFORMED_RESULT, fields)
    return decision


def _deny(engine: PolicyEngine, reason: str, fields: list[str], *, logged: bool = False) -> Decision:
    if not logged:
        logger.warning("policy engine %s: deny with %s", engine.name, reason)
    return Decision.deny(reason, engine.version, fields)


def _requested_fields(input_doc: Mapping[str, Any]) -> list[str]:
    try:
        raw = input_doc.get("fields")
    except _NEVER_CAUGHT:
        raise
    except BaseException:  # a hostile mapping must not break the deny path
        return []
    if not isinstance(raw, (list, tuple)):
        return []
    return [f for f in raw if isinstance(f, str)]
