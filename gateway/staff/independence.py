"""Whether two staff accounts are two independent pairs of eyes (four eyes, issue 16).

An agency's administrator creates and recovers accounts and holds the one-time enrolment code until
the person uses it: whoever holds that code chooses the account's password, TOTP and passkey. So an
administrator who issued an account's current credentials could be that account. An approval
therefore does not count when either of the two people issued the other's current credentials
(created the account, or last recovered it): the administrator who requests an exception cannot
approve it with a supervisor account they created or recovered, nor approve, as a supervisor, a
request made with an account they issued. Administrators are recorded per enrolment code
(``staff_enrolments.issued_by``), and the latest code issued for an account is its current
credentials' origin (passkeys and the second factor are enrolled only with such a code).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import StaffEnrolment

__all__ = ["credentials_issuer", "not_independent"]

APPROVER_ISSUED_BY_REQUESTER = "approver_credentials_issued_by_requester"
REQUESTER_ISSUED_BY_APPROVER = "requester_credentials_issued_by_approver"


def credentials_issuer(session: Session, account_id: str) -> str | None:
    """The account that issued ``account_id``'s current credentials (its latest enrolment code):
    an administrator's account id, ``bootstrap`` for the agency's first accounts, None if unknown."""
    return session.scalars(select(StaffEnrolment.issued_by).where(StaffEnrolment.account_id == account_id)
                           .order_by(StaffEnrolment.created_at.desc()).limit(1)).first()


def not_independent(*, requester_id: str, approver_id: str, requester_issuer: str | None,
                    approver_issuer: str | None) -> str | None:
    """Why the approver is not a second, independent person (pure), or None when they are."""
    if approver_issuer is not None and approver_issuer == requester_id:
        return APPROVER_ISSUED_BY_REQUESTER
    if requester_issuer is not None and requester_issuer == approver_id:
        return REQUESTER_ISSUED_BY_APPROVER
    return None
