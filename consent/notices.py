"""Notices the person sees in the portal: append-only, codes and ids only.

A notice tells the person something happened or is needed: a consent is needed before an
agency may receive anything (CR32, S34), a recipient was added, a consent was withdrawn
(with CR15's warning where an investigation may continue), an exception was used. A notice
may be deferred (``defer_until`` + a reason code) when telling the person now would put
them at risk; the portal shows it from then on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kernel.ids import SHORT, new_id

from .orm import Base
from .vocabulary import NoticeKind, Purpose

__all__ = ["PersonNotice", "notices_for", "notify_consent_needed", "notify_person"]

# Codes and ids: letters, digits and a few separators, never free text.
_CODE = re.compile(r"^[A-Za-z0-9_.:\-]{0,120}$")


class PersonNotice(Base):
    """A notice for the person's portal. Rows are only ever inserted."""

    __tablename__ = "person_notices"
    __table_args__ = (Index("ix_person_notices_subject_created", "subject_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    defer_until: Mapped[datetime | None]
    defer_reason: Mapped[str | None] = mapped_column(String(40))


def _check_codes(value: Any, depth: int = 0) -> Any:
    """Return ``value`` if it holds only codes, ids, numbers and booleans; raise ValueError otherwise."""
    if depth > 3:
        raise ValueError("notice details nest too deeply")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if not _CODE.match(value):
            raise ValueError("notice details hold codes and ids only, never text")
        return value
    if isinstance(value, list | tuple):
        return [_check_codes(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(_check_codes(k, depth + 1)): _check_codes(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} is not allowed in notice details")


def notify_person(
    session: Session,
    subject_id: str,
    kind: NoticeKind | str,
    *,
    now: datetime,
    details: Mapping[str, Any] | None = None,
    defer_until: datetime | None = None,
    defer_reason: str | None = None,
) -> PersonNotice:
    """Append a notice for the person (in the caller's transaction)."""
    if (defer_until is None) != (defer_reason is None):
        raise ValueError("a deferred notice needs both defer_until and defer_reason")
    if defer_reason is not None:
        _check_codes(defer_reason)
    notice = PersonNotice(
        id=new_id("ntc", size=SHORT), subject_id=subject_id, kind=str(NoticeKind(kind)),
        details=_check_codes(dict(details or {})), created_at=now, defer_until=defer_until,
        defer_reason=defer_reason,
    )
    session.add(notice)
    session.flush()
    return notice


def notify_consent_needed(
    session: Session,
    subject_id: str,
    *,
    purpose: Purpose | str,
    recipient_agency_id: str,
    now: datetime,
) -> PersonNotice:
    """CR32/S34: an exchange was refused for lack of consent; ask the person, never assume."""
    return notify_person(session, subject_id, NoticeKind.CONSENT_NEEDED, now=now,
                         details={"purpose": str(Purpose(purpose)), "recipient_agency_id": recipient_agency_id})


def notices_for(session: Session, subject_id: str, *, at: datetime | None = None) -> list[PersonNotice]:
    """The person's notices, oldest first; deferred ones only once ``at`` reaches ``defer_until``."""
    query = select(PersonNotice).where(PersonNotice.subject_id == subject_id)
    if at is not None:
        query = query.where((PersonNotice.defer_until.is_(None)) | (PersonNotice.defer_until <= at))
    return list(session.scalars(query.order_by(PersonNotice.created_at, PersonNotice.id)))
