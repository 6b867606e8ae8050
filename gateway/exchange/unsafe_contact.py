"""S40: a contact channel flagged as owned by or accessible to a third party is never passed on,
and the person's advocate hears that someone tried.

The policy withholds the channel (``contact.rego``: ``contact_not_verified_safe``, SEC12). What
the gateway adds here is the alert: when a planned exchange asked for a channel of a person whose
contact is recorded as ``third_party_access``, the agency that holds the person's case (their lead
advocate) and, for a child, the guardian advocate service get an agency notice naming who tried,
for whom and which channels (field names only, never a value). Runs in the plan's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from consent.subjects import Subject
from consent.vocabulary import ContactSafety

from ..exceptions.service import notify_agency
from ..policy.decision import Decision

__all__ = ["BLOCKED_REASON", "NOTICE_KIND", "alert_blocked_contact"]

#: The policy's reason for a withheld contact channel.
BLOCKED_REASON = "contact_not_verified_safe"
#: The agency notice the advocate receives.
NOTICE_KIND = "unsafe_contact_blocked"


def alert_blocked_contact(session: Session, decision: Decision, *, subject_id: str, requester_agency_id: str,
                          recipient_agency_id: str, purpose: str, now: datetime) -> list[str]:
    """Notify the person's advocates when the decision withheld a channel flagged third-party;
    returns the agencies told (none when nothing was withheld for that reason)."""
    blocked = sorted(d.field for d in decision.denied_fields if d.reason == BLOCKED_REASON)
    if not blocked:
        return []
    subject = session.get(Subject, subject_id)
    if subject is None or subject.contact_safety != ContactSafety.THIRD_PARTY_ACCESS:
        return []
    told = [subject.owner_agency_id]
    if subject.guardian_advocate_agency_id and subject.guardian_advocate_agency_id not in told:
        told.append(subject.guardian_advocate_agency_id)
    for agency_id in told:
        notify_agency(session, agency_id, subject_id, NOTICE_KIND, now=now, details={
            "requester_agency_id": requester_agency_id, "recipient_agency_id": recipient_agency_id,
            "purpose": purpose, "fields": blocked, "rule": "S40",
        })
    return told
