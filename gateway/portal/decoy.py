"""The duress session: a consistent decoy of the person's account.

Whoever forced the person to sign in holds the card, so the decoy shows what the card shows:
the consents in force, with their purposes and recipients. Every action answers as it would in
a real session (a withdrawal says what changes, a complaint is listed as received) and is kept
only in the decoy session's own state (``portal_session_state.decoy``), so the pages that follow
agree with it; none of it reaches a consent, a request, a notice or the audit log, and it ends
with the session. What happened before (disclosures, notices, earlier requests) is not shown: a
decoy account where nothing has happened yet. The silent alert to the advocate stays
(:mod:`gateway.portal.auth`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import ConflictError, NotFoundError
from consent.models import ConsentEnding, ConsentRecord
from consent.service import status_at
from consent.subjects import Subject
from kernel.ids import SHORT, new_id

from . import content
from .models import PortalSessionState, RequestStatus

__all__ = ["DecoyWithdrawal", "consents", "notices", "record_request", "requests", "withdraw"]


def _state(row: PortalSessionState) -> dict[str, Any]:
    return dict(row.decoy or {"withdrawn": {}, "requests": []})


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def consents(session: Session, row: PortalSessionState, subject_id: str,
             now: datetime) -> tuple[list[content.ConsentView], list[content.ConsentView]]:
    """The real consents (what the card shows), with the decoy's withdrawals applied."""
    live, past = content.consents(session, subject_id, now)
    withdrawn = _state(row)["withdrawn"]
    still = [c for c in live if c.id not in withdrawn]
    ended = [replace(c, status="withdrawn", ended_at=_at(withdrawn[c.id]["at"])) for c in live if c.id in withdrawn]
    history = ended + past  # in content.consents' order: newest obtained first, then by id
    history.sort(key=lambda c: c.id)
    history.sort(key=lambda c: c.obtained_at, reverse=True)
    return still, history


CARD_NOTICES = frozenset({"consent_granted", "recipient_added", "consent_withdrawn", "consent_expired",
                          "investigation_may_continue"})
"""Notices about the consents themselves (what the card says anyway). Others (an agency asked, an
exception was used) are not shown in a decoy: they would tell the person's captor too much."""


def notices(session: Session, row: PortalSessionState, subject_id: str, now: datetime,
            limit: int = 20) -> list[content.NoticeView]:
    """The consent notices, and those a real withdrawal would have written, newest first."""
    real = [n for n in content.notices(session, subject_id, now, limit=200) if n.kind in CARD_NOTICES]
    merged = _decoy_notices(session, row) + real
    merged.sort(key=lambda n: n.at, reverse=True)  # stable: the decoy's own (the newest) first on a tie
    return merged[:limit]


def _decoy_notices(session: Session, row: PortalSessionState) -> list[content.NoticeView]:
    out: list[content.NoticeView] = []
    for entry in _state(row)["withdrawn"].values():
        at = _at(entry["at"])
        out.append(content.NoticeView(kind="consent_withdrawn", at=at, purpose=entry["purpose"]))
        if entry["open_cases"]:
            names = content.agency_names(session, entry["open_cases"])
            out.append(content.NoticeView(kind="investigation_may_continue", at=at,
                                          agencies=tuple(names.get(a, a) for a in entry["open_cases"])))
    return list(reversed(out))


def requests(session: Session, row: PortalSessionState) -> list[content.RequestView]:
    kept = _state(row)["requests"]
    names = content.agency_names(session, (r["about"] or "" for r in kept))
    views = [content.RequestView(id=r["id"], kind=r["kind"], status=str(RequestStatus.RECEIVED), outcome=None,
                                 created_at=_at(r["at"]), updated_at=_at(r["at"]),
                                 about=names.get(r["about"], r["about"]) if r["about"] else None,
                                 steps=((str(RequestStatus.RECEIVED), _at(r["at"])),)) for r in kept]
    views.sort(key=lambda v: v.id)  # as content.requests orders them: newest first, then by id
    views.sort(key=lambda v: v.created_at, reverse=True)
    return views


def record_request(row: PortalSessionState, *, kind: str, about: str | None, now: datetime) -> None:
    state = _state(row)
    state["requests"] = [*state["requests"], {"id": new_id("req", size=SHORT), "kind": kind,
                                               "about": about, "at": now.isoformat()}]
    row.decoy = state


@dataclass(frozen=True)
class DecoyWithdrawal:
    purpose: str
    recipient_ids: tuple[str, ...]
    open_cases: tuple[str, ...]
    services_unchanged: bool


def withdraw(session: Session, row: PortalSessionState, subject_id: str, consent_id: str,
             now: datetime) -> DecoyWithdrawal:
    """What withdrawing would answer, with the same refusals (NotFoundError, ConflictError), kept only
    in the decoy state."""
    record = session.get(ConsentRecord, consent_id)
    if record is None or record.subject_id != subject_id:
        raise NotFoundError("unknown_consent")
    state = _state(row)
    if consent_id in state["withdrawn"]:
        raise ConflictError("consent_withdrawn", "This consent has already been withdrawn.")
    status = status_at(record, _ending_of(session, consent_id), now)
    if status != "in_force":
        raise ConflictError(f"consent_{status}", "This consent is no longer in force.")
    subject = session.get(Subject, subject_id)
    holding = sorted({c["recipient_agency_id"] for c in (subject.open_cases if subject else [])}
                     & set(record.recipient_ids))
    names = content.agency_names(session, holding)
    result = DecoyWithdrawal(purpose=record.purpose, recipient_ids=tuple(record.recipient_ids),
                             open_cases=tuple(names.get(a, a) for a in holding),
                             services_unchanged=record.purpose == "criminal_justice")
    state["withdrawn"] = {**state["withdrawn"], consent_id: {"at": now.isoformat(), "purpose": record.purpose,
                                                              "open_cases": holding}}
    row.decoy = state
    return result


def _ending_of(session: Session, consent_id: str) -> ConsentEnding | None:
    return session.scalars(select(ConsentEnding).where(ConsentEnding.consent_id == consent_id)).first()
