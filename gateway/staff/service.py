"""Staff account administration, by each agency's own administrator (never the gateway operator).

Create an account (a username nobody can guess, roles from the fixed vocabulary, a one-time
enrolment code the administrator hands over in person), recover it (every passkey and session
revoked, a fresh enrolment code), revoke it for good. Every step is audited with the administrator
who took it. The caller owns nothing here but its request: each function runs one transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crypto.passwords import SecretHasher
from kernel.ids import SHORT, new_id

from ..accounts import AccountStatus, StaffAccount
from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..errors import Conflict, NotFound, Unprocessable
from ..web.models import WebSession
from .models import AgencyStaffSettings, StaffCredential, StaffEnrolment
from .roles import valid_roles

__all__ = ["ENROLMENT_TTL", "LEGAL_DEFERRAL_MAX_DAYS", "Enrolment", "create_account", "deferral_max_days",
           "hash_code", "legal_deferral_max_days", "list_accounts", "publish_deferral_max", "recover_account",
           "revoke_account"]

ENROLMENT_TTL = timedelta(days=3)
#: The shipped value of ``policies/data/exceptions.json`` ``deferral.legal_max_days``: the longest any
#: agency may defer telling a person that their data was shared under an exception (a covert
#: investigation). The data document decides (a DPO changes it without code); this is its default.
LEGAL_DEFERRAL_MAX_DAYS = 90


def legal_deferral_max_days(policy_dir: Path) -> int:
    """The legal deferral ceiling from the policy data (``deferral.legal_max_days``, SEC6; digest 7.5
    and open question 9, pending legal sign-off): the same number the policy engines decide with."""
    document = json.loads((policy_dir / "data" / "exceptions.json").read_text(encoding="utf-8"))
    days = (document.get("deferral") or {}).get("legal_max_days", LEGAL_DEFERRAL_MAX_DAYS)
    return int(days) if isinstance(days, int) and not isinstance(days, bool) and days >= 0 else 0


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class Enrolment:
    account_id: str
    username: str
    code: str
    expires_at: datetime

    def view(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "username": self.username, "enrolment_code": self.code,
                "enrolment_path": "/staff/enrol", "expires_at": self.expires_at}


def new_username(agency_id: str) -> str:
    """``<agency>-<8 random letters>``: 40 bits nobody can guess (no ``admin``, no ``dpo``)."""
    letters = "abcdefghijkmnpqrstuvwxyz23456789"
    return f"{agency_id}-{''.join(secrets.choice(letters) for _ in range(8))}"


def _enrolment(session: Session, account: StaffAccount, purpose: str, issued_by: str, now: datetime) -> Enrolment:
    code = secrets.token_urlsafe(24)
    session.execute(delete(StaffEnrolment).where(StaffEnrolment.account_id == account.id,
                                                 StaffEnrolment.used_at.is_(None)))
    session.add(StaffEnrolment(code_hash=hash_code(code), account_id=account.id, purpose=purpose,
                               issued_by=issued_by, created_at=now, expires_at=now + ENROLMENT_TTL))
    return Enrolment(account.id, account.username, code, now + ENROLMENT_TTL)


def create_account(session: Session, *, agency_id: str | None, roles: list[str], hasher: SecretHasher,
                   actor: Actor, now: datetime, username: str | None = None) -> Enrolment:
    """A new account in ``agency_id`` (the caller's transaction). Nobody knows its password: the
    person chooses one when they enrol their passkey with the returned one-time code."""
    if not valid_roles(roles):
        raise Unprocessable("unknown_staff_role", "Roles come from the fixed vocabulary (GET /v1/staff/roles).")
    name = username or new_username(agency_id or "gateway")
    if session.scalar(select(StaffAccount.id).where(StaffAccount.username == name)) is not None:
        raise Conflict("username_taken", "Choose another username.")
    account = StaffAccount(
        id=new_id("stf", size=SHORT), username=name, role=roles[0], roles=sorted(set(roles)),
        agency_id=agency_id, password_hash=hasher.hash(secrets.token_urlsafe(32)),
        totp_secret=pyotp.random_base32(), created_at=now, status=AccountStatus.ACTIVE,
        webauthn_user_id=secrets.token_urlsafe(32),
    )
    session.add(account)
    session.flush()
    enrolment = _enrolment(session, account, "enrol", actor.user or "bootstrap", now)
    record(session, AuditEvent(AuditTag.STAFF_ACCOUNT_CREATE, decision="allow",
                               details={"account_id": account.id, "roles": account.roles}), actor=actor, at=now)
    return enrolment


def _own_account(session: Session, agency_id: str, account_id: str) -> StaffAccount:
    account = session.get(StaffAccount, account_id, with_for_update=True)
    if account is None or account.agency_id != agency_id:
        raise NotFound("unknown_staff_account")
    return account


def _sign_out_everywhere(session: Session, account_id: str, now: datetime) -> int:
    """End every session, passkey and token of the account now: the generation every person token
    and exchanged token carries moves on, so each request with an older one is refused at once."""
    session.execute(update(StaffAccount).where(StaffAccount.id == account_id)
                    .values(generation=StaffAccount.generation + 1).execution_options(synchronize_session=False))
    session.execute(delete(WebSession).where(WebSession.principal_id == account_id))
    result = session.execute(update(StaffCredential).where(StaffCredential.account_id == account_id,
                                                           StaffCredential.revoked_at.is_(None))
                             .values(revoked_at=now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def recover_account(session: Session, *, agency_id: str, account_id: str, hasher: SecretHasher, actor: Actor,
                    now: datetime) -> Enrolment:
    """A lost or stolen device: every passkey and session of the account ends, the password and TOTP
    secret are replaced, and a fresh one-time code lets the person enrol again. Not one's own account:
    a second administrator recovers an administrator."""
    account = _own_account(session, agency_id, account_id)
    if account.id == actor.user:
        raise Unprocessable("self_recovery", "Another administrator of your agency must recover your account.")
    if account.status == AccountStatus.REVOKED:
        raise Conflict("staff_account_revoked", "A revoked account cannot be recovered; create a new one.")
    revoked = _sign_out_everywhere(session, account.id, now)
    account.password_hash = hasher.hash(secrets.token_urlsafe(32))
    account.totp_secret = pyotp.random_base32()
    account.status = AccountStatus.ACTIVE
    enrolment = _enrolment(session, account, "recovery", actor.user or "", now)
    record(session, AuditEvent(AuditTag.STAFF_ACCOUNT_RECOVER, decision="allow",
                               details={"account_id": account.id, "passkeys_revoked": revoked}), actor=actor, at=now)
    return enrolment


def revoke_account(session: Session, *, agency_id: str, account_id: str, actor: Actor, now: datetime) -> dict[str, Any]:
    """For good: no sign-in, no person token, no exchanged token works from the next request on."""
    account = _own_account(session, agency_id, account_id)
    if account.id == actor.user:
        raise Unprocessable("self_revocation", "Another administrator of your agency must revoke your account.")
    revoked = _sign_out_everywhere(session, account.id, now)
    account.status = AccountStatus.REVOKED
    account.disabled = True
    session.execute(delete(StaffEnrolment).where(StaffEnrolment.account_id == account.id))
    record(session, AuditEvent(AuditTag.STAFF_ACCOUNT_REVOKE, decision="allow",
                               details={"account_id": account.id, "passkeys_revoked": revoked}), actor=actor, at=now)
    return account_view(session, account)


def account_view(session: Session, account: StaffAccount) -> dict[str, Any]:
    passkeys = session.scalars(select(StaffCredential.created_at).where(
        StaffCredential.account_id == account.id, StaffCredential.revoked_at.is_(None))).all()
    return {"account_id": account.id, "username": account.username, "agency_id": account.agency_id,
            "roles": sorted(account.all_roles()), "status": account.status, "passkeys": len(passkeys),
            "created_at": account.created_at}


def list_accounts(session: Session, agency_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(StaffAccount).where(StaffAccount.agency_id == agency_id)
                           .order_by(StaffAccount.created_at, StaffAccount.id))
    return [account_view(session, a) for a in rows]


def deferral_max_days(session: Session, agency_id: str, legal_max_days: int = LEGAL_DEFERRAL_MAX_DAYS) -> int | None:
    """The agency's published deferral maximum (never above the legal one), or None: no deferral."""
    row = session.get(AgencyStaffSettings, agency_id)
    if row is None or row.deferral_max_days is None:
        return None
    return min(row.deferral_max_days, legal_max_days)


def plans_need_person(session: Session, agency_id: str) -> bool:
    row = session.get(AgencyStaffSettings, agency_id)
    return bool(row is not None and row.plans_need_person)


def publish_plans_need_person(session: Session, *, agency_id: str, required: bool, actor: Actor,
                              now: datetime) -> dict[str, Any]:
    """From the next token on, the agency's system may plan referrals only acting for a signed-in person."""
    row = session.get(AgencyStaffSettings, agency_id)
    if row is None:
        row = AgencyStaffSettings(agency_id=agency_id, deferral_max_days=None, updated_by=actor.user or "",
                                  updated_at=now)
        session.add(row)
    row.plans_need_person, row.updated_by, row.updated_at = required, actor.user or "", now
    record(session, AuditEvent(AuditTag.STAFF_RULE_PUBLISH, decision="info",
                               details={"plans_need_person": required}), actor=actor, at=now)
    return {"agency_id": agency_id, "plans_need_person": required}


def publish_deferral_max(session: Session, *, agency_id: str, days: int | None, actor: Actor,
                         now: datetime, legal_max_days: int = LEGAL_DEFERRAL_MAX_DAYS) -> dict[str, Any]:
    if days is not None and not 1 <= days <= legal_max_days:
        raise Unprocessable("deferral_maximum_above_legal",
                            f"A deferral maximum is between 1 and {legal_max_days} days (the legal ceiling in "
                            "policies/data/exceptions.json deferral.legal_max_days).")
    row = session.get(AgencyStaffSettings, agency_id)
    if row is None:
        row = AgencyStaffSettings(agency_id=agency_id, deferral_max_days=days, updated_by=actor.user or "",
                                  updated_at=now, plans_need_person=False)
        session.add(row)
    else:
        row.deferral_max_days, row.updated_by, row.updated_at = days, actor.user or "", now
    record(session, AuditEvent(AuditTag.AGENCY_DEFERRAL_MAXIMUM, decision="info",
                               details={"deferral_max_days": days}), actor=actor, at=now)
    return {"agency_id": agency_id, "deferral_max_days": days, "legal_max_days": legal_max_days}
