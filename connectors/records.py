"""Typed results of the SDK's calls (frozen dataclasses built from the API's JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AgencyNotice", "ExceptionGrant", "Explanation"]


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class ExceptionGrant:
    """A lawful-exception grant: one recipient, named classes, single use, minutes to live."""

    id: str
    agency_id: str
    subject_id: str
    basis: str
    scenario: str
    recipient_agency_id: str
    purpose: str
    classes: tuple[str, ...]
    fields: tuple[str, ...]
    status: str
    requested_by: str
    requested_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    expires_at: datetime | None
    used_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ExceptionGrant:
        return cls(
            id=str(body["id"]), agency_id=str(body["agency_id"]), subject_id=str(body["subject_id"]),
            basis=str(body["basis"]), scenario=str(body["scenario"]),
            recipient_agency_id=str(body["recipient_agency_id"]), purpose=str(body["purpose"]),
            classes=tuple(body.get("classes") or ()), fields=tuple(body.get("fields") or ()),
            status=str(body["status"]), requested_by=str(body.get("requested_by") or ""),
            requested_at=_when(body.get("requested_at")), approved_by=body.get("approved_by"),
            approved_at=_when(body.get("approved_at")), expires_at=_when(body.get("expires_at")),
            used_at=_when(body.get("used_at")), raw=dict(body),
        )


@dataclass(frozen=True)
class AgencyNotice:
    """Something the agency must be told: an exception used on its case, a suspected guardian, an age
    correction, an NRM deadline alert. ``details`` holds codes and ids only."""

    id: str
    subject_id: str | None
    kind: str
    details: Mapping[str, Any]
    created_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AgencyNotice:
        return cls(id=str(body["id"]), subject_id=body.get("subject_id"), kind=str(body["kind"]),
                   details=dict(body.get("details") or {}), created_at=_when(body.get("created_at")),
                   raw=dict(body))


@dataclass(frozen=True)
class Explanation:
    """The record that a person was told the agency's exception policy at the outset (L1)."""

    id: str
    subject_id: str
    given_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Explanation:
        return cls(id=str(body["id"]), subject_id=str(body["subject_id"]), given_at=_when(body.get("given_at")),
                   raw=dict(body))
