"""The consent package's errors. The gateway maps each to one HTTP status.

::

    ConsentError                        (reason: a stable snake_case code)
    ├── NotFoundError                   absent, or not the caller's to see (one answer for both)
    ├── ConflictError                   the record already ended, expired, or changed concurrently
    └── RefusedError                    a rule refused the request: every failed rule, in order

Messages say what failed, never what data exists or what was submitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Failure:
    """One failed rule: a stable ``reason``, the rule id it enforces, and the field concerned."""

    reason: str
    rule: str
    field: str

    def as_dict(self) -> dict[str, str]:
        """``{reason, rule, field}`` as the API shows it."""
        return {"reason": self.reason, "rule": self.rule, "field": self.field}


class ConsentError(Exception):
    """Base of every error the consent package raises on purpose."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason.replace("_", " ")


class NotFoundError(ConsentError):
    """No such subject or consent, or it belongs to another agency (indistinguishable)."""

    def __init__(self, reason: str = "not_found") -> None:
        super().__init__(reason, "No such object, or it is not yours to see.")


class ConflictError(ConsentError):
    """The request contradicts the record's current state (e.g. it has already ended)."""


class RefusedError(ConsentError):
    """Validation refused the request; ``failures`` lists every failed rule, first one first."""

    def __init__(
        self,
        failures: Sequence[Failure],
        *,
        detail: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not failures:
            raise ValueError("a refusal needs at least one failure")
        super().__init__(failures[0].reason, detail or "The request breaks one or more consent rules.")
        self.failures = tuple(failures)
        self.extra = dict(extra or {})
