"""Passkeys (WebAuthn) for staff, on py_webauthn: registering one with a one-time enrolment code,
and signing in with one (discoverable credentials, user verification required).

The relying party is the gateway's own origin (``GATEWAY_ISSUER``): its host is the RP id. Every
challenge is stored bound to the browser session it was issued to and is used once.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..accounts import StaffAccount
from .models import StaffChallenge, StaffCredential, StaffEnrolment
from .service import hash_code

__all__ = [
    "CHALLENGE_TTL",
    "PasskeyError",
    "RelyingParty",
    "authentication_options",
    "finish_authentication",
    "finish_registration",
    "passkey_origin",
    "registration_options",
]

CHALLENGE_TTL = timedelta(minutes=5)


class PasskeyError(Exception):
    """A ceremony that did not verify; ``reason`` is machine-readable, never shown with detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str = "Safe-referral gateway"

    @classmethod
    def of(cls, issuer: str) -> RelyingParty:
        origin = passkey_origin(issuer)
        return cls(rp_id=urlsplit(origin).hostname or "localhost", origin=origin)


def passkey_origin(issuer: str) -> str:
    """The origin staff use for passkeys: the issuer's, except that a loopback IP (a local demo)
    becomes ``localhost`` (WebAuthn takes a domain, never an IP address, as relying party id)."""
    parts = urlsplit(issuer)
    host = parts.hostname or "localhost"
    if host in ("127.0.0.1", "::1"):
        host = "localhost"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}"


def _store_challenge(session: Session, challenge: bytes, purpose: str, session_hash: str, account_id: str | None,
                     now: datetime) -> None:
    session.execute(delete(StaffChallenge).where(StaffChallenge.expires_at < now))
    session.add(StaffChallenge(challenge=bytes_to_base64url(challenge), purpose=purpose, session_hash=session_hash,
                               account_id=account_id, expires_at=now + CHALLENGE_TTL))


def _take_challenge(session: Session, credential: dict[str, Any], purpose: str, session_hash: str,
                    now: datetime) -> StaffChallenge:
    """The stored challenge the client signed over (from its clientDataJSON), removed: used once."""
    try:
        client_data = json.loads(base64url_to_bytes(str(credential["response"]["clientDataJSON"])))
        challenge = str(client_data["challenge"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PasskeyError("passkey_malformed") from exc
    row = session.get(StaffChallenge, challenge[:100])
    if row is None or row.purpose != purpose or row.session_hash != session_hash or row.expires_at < now:
        raise PasskeyError("passkey_challenge_unknown")
    session.delete(row)
    session.flush()
    return row


def enrolment_for(session: Session, code: str, now: datetime) -> tuple[StaffEnrolment, StaffAccount]:
    enrolment = session.get(StaffEnrolment, hash_code(code)) if code else None
    if enrolment is None or enrolment.used_at is not None or enrolment.expires_at < now:
        raise PasskeyError("enrolment_code_invalid")
    account = session.get(StaffAccount, enrolment.account_id)
    if account is None or not account.usable:
        raise PasskeyError("enrolment_code_invalid")
    return enrolment, account


def registration_options(session: Session, rp: RelyingParty, code: str, session_hash: str,
                         now: datetime) -> str:
    """Options for ``navigator.credentials.create`` (JSON), for the account the enrolment code names."""
    _enrolment, account = enrolment_for(session, code, now)
    if account.webauthn_user_id is None:
        account.webauthn_user_id = secrets.token_urlsafe(32)
    existing = session.scalars(select(StaffCredential.id).where(StaffCredential.account_id == account.id,
                                                                StaffCredential.revoked_at.is_(None))).all()
    options = generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_name=account.username,
        user_id=base64url_to_bytes(account.webauthn_user_id), user_display_name=account.username,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing],
    )
    _store_challenge(session, options.challenge, "register", session_hash, account.id, now)
    return options_to_json(options)


def finish_registration(session: Session, rp: RelyingParty, code: str, credential: dict[str, Any],
                        session_hash: str, now: datetime) -> tuple[StaffAccount, StaffEnrolment]:
    """Verify the new passkey and store it; the enrolment code is spent. The caller sets the password."""
    enrolment, account = enrolment_for(session, code, now)
    challenge = _take_challenge(session, credential, "register", session_hash, now)
    if challenge.account_id != account.id:
        raise PasskeyError("passkey_challenge_unknown")
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin, require_user_verification=True)
    except InvalidRegistrationResponse as exc:
        raise PasskeyError("passkey_registration_failed") from exc
    # Spend the code in one guarded UPDATE: of two registrations racing with the same code (the person
    # and whoever else held it), exactly one wins; the other waits for it and then finds the code spent.
    spent = session.execute(update(StaffEnrolment).where(StaffEnrolment.code_hash == enrolment.code_hash,
                                                         StaffEnrolment.used_at.is_(None))
                            .values(used_at=now).execution_options(synchronize_session=False))
    if cast(CursorResult[Any], spent).rowcount != 1:
        raise PasskeyError("enrolment_code_invalid")
    session.refresh(enrolment, ["used_at"])
    session.add(StaffCredential(id=bytes_to_base64url(verified.credential_id), account_id=account.id,
                                public_key=bytes_to_base64url(verified.credential_public_key),
                                sign_count=verified.sign_count, created_at=now))
    return account, enrolment


def authentication_options(session: Session, rp: RelyingParty, session_hash: str, now: datetime) -> str:
    """Options for ``navigator.credentials.get``: no user name asked, the passkey says who it is."""
    options = generate_authentication_options(rp_id=rp.rp_id,
                                              user_verification=UserVerificationRequirement.REQUIRED)
    _store_challenge(session, options.challenge, "sign_in", session_hash, None, now)
    return options_to_json(options)


def finish_authentication(session: Session, rp: RelyingParty, credential: dict[str, Any], session_hash: str,
                          now: datetime) -> StaffAccount:
    """The account whose live passkey signed the challenge, with user verification; else PasskeyError."""
    challenge = _take_challenge(session, credential, "sign_in", session_hash, now)
    stored = session.get(StaffCredential, str(credential.get("id", ""))[:700])
    if stored is None or stored.revoked_at is not None:
        raise PasskeyError("passkey_unknown")
    account = session.get(StaffAccount, stored.account_id)
    if account is None or not account.usable:
        raise PasskeyError("staff_account_not_active")
    handle = (credential.get("response") or {}).get("userHandle")
    if handle and account.webauthn_user_id and handle != account.webauthn_user_id:
        raise PasskeyError("passkey_user_mismatch")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.rp_id, expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(stored.public_key),
            credential_current_sign_count=stored.sign_count, require_user_verification=True)
    except InvalidAuthenticationResponse as exc:
        raise PasskeyError("passkey_authentication_failed") from exc
    stored.sign_count = verified.new_sign_count
    stored.last_used_at = now
    return account
