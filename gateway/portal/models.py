"""Portal tables: per-session state, the person's requests (with their status history) and
advocate alerts.

- ``portal_session_state``: what a portal browser session needs besides
  ``web_sessions``: the subject it opened, whether it is a duress (decoy) session, and the
  language chosen on screen. Keyed by the session's id hash; deleted with the session.
- ``portal_requests`` / ``portal_request_events``: correction requests and complaints. They
  are routed to the DPO and the monitoring body, never to an agency: no ``/v1`` route reads
  them, and a console user of the agency a request is about does not see it either.
- ``portal_alerts``: a duress sign-in, or a code being guessed, for the subject's owner agency:
  ids and a code only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class RequestKind(StrEnum):
    CORRECTION = "correction"
    COMPLAINT = "complaint"


class RequestStatus(StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    RESOLVED = "resolved"


class RequestOutcome(StrEnum):
    """How a resolved request ended (shown to the person in plain words)."""

    CORRECTED = "corrected"
    NOT_CORRECTED = "not_corrected"
    UPHELD = "upheld"
    NOT_UPHELD = "not_upheld"


OUTCOMES_BY_KIND = {
    RequestKind.CORRECTION: (RequestOutcome.CORRECTED, RequestOutcome.NOT_CORRECTED),
    RequestKind.COMPLAINT: (RequestOutcome.UPHELD, RequestOutcome.NOT_UPHELD),
}

ROUTED_TO = ("dpo", "monitoring_body")
MESSAGE_KEY = "portal-request-message"
"""Label of the key that encrypts the person's words and staff notes at rest (``crypto.at_rest``)."""
"""Who handles every request: console roles, never the agencies involved."""


class PortalSessionState(Base):
    __tablename__ = "portal_session_state"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """``web_sessions.id_hash`` of the session this belongs to."""
    subject_id: Mapped[str | None] = mapped_column(String(64))
    duress: Mapped[bool] = mapped_column(default=False)
    lang: Mapped[str | None] = mapped_column(String(8))
    """The language chosen on screen in this session (None: the subject's or the browser's)."""
    created_at: Mapped[datetime]
    decoy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A duress session's decoy actions (withdrawals, requests: ids, codes and times only), so its
    pages agree with what it was told; deleted with the session (:mod:`gateway.portal.decoy`)."""


class PortalRequest(Base):
    """A correction request or a complaint from the person."""

    __tablename__ = "portal_requests"
    __table_args__ = (Index("ix_portal_requests_subject_created", "subject_id", "created_at"),
                      Index("ix_portal_requests_status", "status", "created_at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    kind: Mapped[str] = mapped_column(String(20))
    about_agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"))
    """The agency the request is about, if the person named one: it never sees the request."""
    topic: Mapped[str | None] = mapped_column(String(8))
    """For a correction: the data class concerned (D1-D26), if the person chose one."""
    message: Mapped[str] = mapped_column(Text)
    """The person's own words, encrypted at rest (``sr1.`` text, bound to this row's id). Shown only
    to the DPO and the monitoring body, never echoed on the person's screen (a device someone else
    checks must not show it)."""
    routed_to: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default=RequestStatus.RECEIVED)
    outcome: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PortalRequestEvent(Base):
    """One step in a request's history. Rows are only ever inserted."""

    __tablename__ = "portal_request_events"
    __table_args__ = (Index("ix_portal_request_events_request", "request_id", "at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("portal_requests.id"))
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime]
    by_role: Mapped[str] = mapped_column(String(30))
    """``person`` or the console role that acted."""
    by_user: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    """Staff's working note, encrypted at rest and bound to this event's id (staff only; the person
    sees the status and outcome)."""


class AlertCode(StrEnum):
    DURESS_SIGN_IN = "duress_sign_in"
    CODE_GUESSED = "portal_code_being_guessed"
    """Someone holding the card keeps typing wrong PINs (``portal_alert_after`` of them, decayed)."""


class PortalAlert(Base):
    """A silent alert for the subject's advocate (the owner agency). Ids and a code only."""

    __tablename__ = "portal_alerts"
    __table_args__ = (Index("ix_portal_alerts_owner_raised", "owner_agency_id", "raised_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    code: Mapped[str] = mapped_column(String(40))
    raised_at: Mapped[datetime]
