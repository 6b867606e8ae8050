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

__all__ = ["IssuerChain", "credentials_issuer", "issuer_chain", "not_independent", "shared_issuer"]

APPROVER_ISSUED_BY_REQUESTER = "approver_credentials_issued_by_requester"
REQUESTER_ISSUED_BY_APPROVER = "requester_credentials_issued_by_approver"


MAX_CHAIN = 16
"""Enough for any real agency; a longer (or circular) chain stops there."""

IssuerChain = tuple[str, ...]
"""The accounts that issued an account's credentials, nearest first: its issuer, that issuer's issuer..."""


def credentials_issuer(session: Session, account_id: str) -> str | None:
    """The account that issued ``account_id``'s current credentials (its latest enrolment code):
    an administrator's account id, ``bootstrap`` for the agency's first accounts, None if unknown.
    Codes issued at the same moment are ordered by their hash, so the answer never depends on the
    database's row order."""
    return session.scalars(select(StaffEnrolment.issued_by).where(StaffEnrolment.account_id == account_id)
                           .order_by(StaffEnrolment.created_at.desc(), StaffEnrolment.code_hash.desc())
                           .limit(1)).first()


def issuer_chain(session: Session, account_id: str) -> IssuerChain:
    """Who issued ``account_id``'s credentials, who issued that administrator's, and so on: an
    administrator who creates a second administrator who creates a supervisor still issued that
    supervisor's credentials, through the account they control."""
    chain: list[str] = []
    current = account_id
    while len(chain) < MAX_CHAIN:
        issuer = credentials_issuer(session, current)
        if issuer is None or issuer in chain or issuer == account_id:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)


def not_independent(*, requester_id: str, approver_id: str, requester_chain: IssuerChain,
                    approver_chain: IssuerChain) -> str | None:
    """Why the approver is not a second, independent person (pure), or None when they are: either one
    issued the other's credentials, directly or through administrators whose credentials they issued."""
    if requester_id in approver_chain:
        return APPROVER_ISSUED_BY_REQUESTER
    if approver_id in requester_chain:
        return REQUESTER_ISSUED_BY_APPROVER
    return None


def shared_issuer(requester_chain: IssuerChain, approver_chain: IssuerChain) -> bool:
    """Whether one administrator (directly or up the chain) issued both accounts' credentials: allowed,
    since a small agency has one administrator, but flagged for the DPO."""
    return bool(set(requester_chain) & set(approver_chain) - {"bootstrap"})
