"""What the exchange needs to know about a person and their consents, behind one seam.

The consent module owns subjects and consent records; this adapter turns them into the
policy engine's input fragments (see ``policies/README.md``) and answers the few other
questions the exchange asks. It is read inside the exchange's own transaction, so a
withdrawal committed before a submit started is always seen (no cache anywhere, CR14/CR33).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from consent import policy_view, service
from consent.notices import notify_person
from consent.placement import is_placement
from consent.subjects import Subject


def own_subject(session: Session, subject_id: str, agency_id: str) -> Subject | None:
    """The subject if this agency owns it, else None (unknown and not-yours look the same).

    Keep the returned object while deciding: the session's identity map holds objects weakly,
    so a dropped one is loaded again by the next ``session.get``.
    """
    return service.get_subject_for_agency(session, subject_id, agency_id)


def subject_document(subject: Subject, now: datetime, *, recipient_id: str, placement_key: bytes) -> dict[str, Any]:
    """The policy's ``subject`` fragment for a request to ``recipient_id``: its placement is the recipient
    when the subject's keyed placement reference is the recipient's (consent.placement), else none."""
    placed = is_placement(placement_key, subject.id, subject.placement_ref, recipient_id)
    return policy_view.subject_document(subject, now, placement_agency_id=recipient_id if placed else None)


def consents_in_force(session: Session, subject_id: str, now: datetime) -> list[dict[str, Any]]:
    """The policy's ``consents`` fragment: every consent in force for the subject now."""
    return service.consent_documents_in_force(session, subject_id, at=now)


def consent_statuses(session: Session, consent_ids: list[str], now: datetime) -> dict[str, str]:
    """``in_force``, ``withdrawn``, ``superseded``, ``expired`` or ``unknown`` for each id."""
    return service.consent_statuses(session, consent_ids, at=now)


def notify_consent_needed(session: Session, subject_id: str, recipient_agency_id: str, purpose: str,
                          now: datetime, *, requester_agency_id: str | None = None) -> None:
    """Tell the person (portal) that an agency wanted to send data no consent covers to another (CR32, S34).

    The notice names both: the agency that wanted to send (``requester_agency_id``) and the one it
    would have gone to; the recipient did not ask for anything."""
    details = {"recipient_agency_id": recipient_agency_id, "purpose": purpose}
    if requester_agency_id is not None:
        details["requester_agency_id"] = requester_agency_id
    notify_person(session, subject_id=subject_id, kind="consent_needed", now=now, details=details)
