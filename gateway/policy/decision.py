"""The policy decision as the rest of the gateway sees it.

``Decision`` mirrors the document ``data.gateway.decision`` returns (policies/README.md).
``Decision.from_document`` validates an engine's answer field by field; anything that does
not have exactly the expected shape becomes a deny with reason ``policy_malformed_result``,
so callers never see an exception and never act on a half-understood answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

# Reason codes set by the Python adapter (the Rego policy never produces these).
POLICY_UNDEFINED: Final = "policy_undefined"
POLICY_ENGINE_ERROR: Final = "policy_engine_error"
POLICY_ENGINE_UNREACHABLE: Final = "policy_engine_unreachable"
POLICY_TIMEOUT: Final = "policy_timeout"
POLICY_MALFORMED_RESULT: Final = "policy_malformed_result"
POLICY_VERSION_MISMATCH: Final = "policy_version_mismatch"

ENGINE_REASONS: Final = frozenset(
    {
        POLICY_UNDEFINED,
        POLICY_ENGINE_ERROR,
        POLICY_ENGINE_UNREACHABLE,
        POLICY_TIMEOUT,
        POLICY_MALFORMED_RESULT,
        POLICY_VERSION_MISMATCH,
    }
)

UNKNOWN_VERSION: Final = "unknown"

_DECISION_KEYS: Final = frozenset(
    {
        "allow",
        "permitted_fields",
        "denied_fields",
        "reasons",
        "basis",
        "obligations",
        "policy_version",
        "explanation",
    }
)
_OBLIGATION_FLAGS: Final = (
    "include_risk_summary",
    "person_preview_required",
    "notify_person",
    "second_approver_required",
)


class MalformedDecisionError(ValueError):
    """An engine answer that is not a well-formed decision document."""


@dataclass(frozen=True)
class DeniedField:
    """One requested field that may not be shared, and the reason code why."""

    field: str
    reason: str


@dataclass(frozen=True)
class Basis:
    """What the permission rests on: consent record ids, or a named exception (e.g. "L3")."""

    consent_ids: tuple[str, ...] = ()
    exception: str | None = None


@dataclass(frozen=True)
class Obligations:
    """What the gateway must do when it acts on an allow."""

    include_risk_summary: bool = False
    person_preview_required: bool = False
    notify_person: bool = False
    second_approver_required: bool = False
    expires_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The obligations as in the policy's decision document."""
        return {
            "include_risk_summary": self.include_risk_summary,
            "person_preview_required": self.person_preview_required,
            "notify_person": self.notify_person,
            "second_approver_required": self.second_approver_required,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class Decision:
    """An allow or deny for one exchange, with the fields it covers and why."""

    allow: bool
    permitted_fields: tuple[str, ...]
    denied_fields: tuple[DeniedField, ...]
    reasons: tuple[str, ...]
    basis: Basis = field(default_factory=Basis)
    obligations: Obligations = field(default_factory=Obligations)
    policy_version: str = UNKNOWN_VERSION
    explanation: tuple[str, ...] = ()

    @classmethod
    def deny(cls, reason: str, policy_version: str, fields: Iterable[str] = ()) -> Decision:
        """A deny of the whole request for one reason; every requested field carries it."""
        names = sorted({f for f in fields if isinstance(f, str)})
        return cls(
            allow=False,
            permitted_fields=(),
            denied_fields=tuple(DeniedField(name, reason) for name in names),
            reasons=(reason,),
            policy_version=policy_version,
        )

    @classmethod
    def from_document(cls, doc: object) -> Decision:
        """Validate an engine answer; a malformed one is a deny (policy_malformed_result)."""
        try:
            return _parse(doc)
        except MalformedDecisionError:
            version = UNKNOWN_VERSION
            if isinstance(doc, Mapping) and isinstance(doc.get("policy_version"), str):
                version = doc["policy_version"]
            return cls.deny(POLICY_MALFORMED_RESULT, version)

    def to_document(self) -> dict[str, Any]:
        """The decision as the JSON document the policy returns."""
        return {
            "allow": self.allow,
            "permitted_fields": list(self.permitted_fields),
            "denied_fields": [{"field": d.field, "reason": d.reason} for d in self.denied_fields],
            "reasons": list(self.reasons),
            "basis": {"consent_ids": list(self.basis.consent_ids), "exception": self.basis.exception},
            "obligations": self.obligations.as_dict(),
            "policy_version": self.policy_version,
            "explanation": list(self.explanation),
        }


def _parse(doc: object) -> Decision:
    mapping = _mapping(doc, "decision")
    if set(mapping) != _DECISION_KEYS:
        raise MalformedDecisionError("unexpected decision keys")
    allow = mapping["allow"]
    if not isinstance(allow, bool):
        raise MalformedDecisionError("allow is not a boolean")
    permitted = _strings(mapping["permitted_fields"], "permitted_fields")
    denied = tuple(
        sorted((_denied(item) for item in _sequence(mapping["denied_fields"], "denied_fields")), key=_by_field)
    )
    reasons = _strings(mapping["reasons"], "reasons")
    explanation = _strings(mapping["explanation"], "explanation")
    version = mapping["policy_version"]
    if not isinstance(version, str) or not version:
        raise MalformedDecisionError("policy_version is not a string")
    decision = Decision(
        allow=allow,
        permitted_fields=permitted,
        denied_fields=denied,
        reasons=reasons,
        basis=_basis(mapping["basis"]),
        obligations=_obligations(mapping["obligations"]),
        policy_version=version,
        explanation=explanation,
    )
    _check_consistency(decision)
    return decision


def _check_consistency(decision: Decision) -> None:
    """Reject answers that contradict themselves: they indicate a broken policy."""
    if decision.allow and (decision.reasons or not decision.permitted_fields):
        raise MalformedDecisionError("allow with reasons or without permitted fields")
    if not decision.allow and not decision.reasons:
        raise MalformedDecisionError("deny without a reason")
    if not decision.allow and decision.permitted_fields:
        raise MalformedDecisionError("deny with permitted fields")
    denied_names = [d.field for d in decision.denied_fields]
    if len(set(denied_names)) != len(denied_names) or len(set(decision.permitted_fields)) != len(
        decision.permitted_fields
    ):
        raise MalformedDecisionError("duplicate field")
    if set(denied_names) & set(decision.permitted_fields):
        raise MalformedDecisionError("a field is both permitted and denied")


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise MalformedDecisionError(f"{what} is not an object")
    return value


def _sequence(value: object, what: str) -> Sequence[object]:
    # Engines may hand back a set for a Rego set; strings are sequences but never valid here.
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise MalformedDecisionError(f"{what} is not a list")
    return value


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = _sequence(value, what)
    if not all(isinstance(item, str) for item in items):
        raise MalformedDecisionError(f"{what} holds a non-string")
    return tuple(sorted(str(item) for item in items))


def _denied(value: object) -> DeniedField:
    item = _mapping(value, "denied field")
    if set(item) != {"field", "reason"}:
        raise MalformedDecisionError("unexpected denied field keys")
    name, reason = item["field"], item["reason"]
    if not isinstance(name, str) or not isinstance(reason, str) or not reason:
        raise MalformedDecisionError("denied field is not two strings")
    return DeniedField(name, reason)


def _basis(value: object) -> Basis:
    basis = _mapping(value, "basis")
    if set(basis) != {"consent_ids", "exception"}:
        raise MalformedDecisionError("unexpected basis keys")
    exception = basis["exception"]
    if exception is not None and not isinstance(exception, str):
        raise MalformedDecisionError("basis.exception is not a string or null")
    return Basis(consent_ids=_strings(basis["consent_ids"], "basis.consent_ids"), exception=exception)


def _obligations(value: object) -> Obligations:
    obligations = _mapping(value, "obligations")
    if set(obligations) != {*_OBLIGATION_FLAGS, "expires_at"}:
        raise MalformedDecisionError("unexpected obligation keys")
    flags = [obligations[name] for name in _OBLIGATION_FLAGS]
    if not all(isinstance(flag, bool) for flag in flags):
        raise MalformedDecisionError("an obligation flag is not a boolean")
    expires_at = obligations["expires_at"]
    if expires_at is not None and not isinstance(expires_at, str):
        raise MalformedDecisionError("obligations.expires_at is not a string or null")
    return Obligations(
        include_risk_summary=obligations["include_risk_summary"],
        person_preview_required=obligations["person_preview_required"],
        notify_person=obligations["notify_person"],
        second_approver_required=obligations["second_approver_required"],
        expires_at=expires_at,
    )


def _by_field(denied: DeniedField) -> str:
    return denied.field
