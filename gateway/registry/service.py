"""Registry operations. Pure checks plus session work; never commits (the caller owns the transaction).

A key or endpoint starts ``pending``. It becomes ``verified`` only when an administrator
types the fingerprint that the agency read back to them over a separate channel (seed 001
line 5014: contacts "checked and verified beforehand"). ``revoked`` is final. Nothing is
ever addressed to a pending or revoked key or endpoint.
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from crypto.encoding import b64u_decode
from crypto.keys import fingerprint as key_fingerprint
from crypto.keys import normalise_fingerprint
from kernel.ids import SHORT, new_id

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..auth.permission import AGENCY_PERMISSIONS, OPERATOR_PERMISSIONS
from ..errors import Conflict, NotFound, Unprocessable
from .binding_chain import chain, unbound_reason
from .jurisdiction import alpha2
from .models import (
    STATE_REPRESENTING_KINDS,
    Agency,
    AgencyEndpoint,
    AgencyKey,
    AgencyKind,
    KeyKind,
    TrustStatus,
    VettingStatus,
)

DEFAULT_SCOPES: dict[str, list[str]] = {
    "gateway_operator": [str(permission) for permission in OPERATOR_PERMISSIONS],
}
AGENCY_SCOPES: list[str] = [str(permission) for permission in AGENCY_PERMISSIONS]


def endpoint_fingerprint(url: str) -> str:
    """Fingerprint of an endpoint URL, read back over the phone like a key fingerprint."""
    digest = hashlib.sha256(b"safe-referral endpoint v1\x00" + url.encode()).digest()[:20]
    text = b32encode(digest).decode().rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def _fingerprint_matches(read_back: str, expected: str) -> bool:
    try:
        return normalise_fingerprint(read_back) == expected
    except ValueError:
        return False  # not even shaped like a fingerprint


@dataclass(frozen=True)
class AgencySpec:
    """What an administrator supplies to register an agency."""

    id: str
    name: str
    kind: AgencyKind
    jurisdiction: str
    mandated_reporter: bool = False
    statutory_duties: tuple[str, ...] = ()
    confidentiality_policy_version: str | None = None
    vetted: bool = False
    exception_policy: tuple[dict[str, Any], ...] = ()
    represents_state: str | None = None


def represented_state(kind: str, jurisdiction: str, represents_state: str | None) -> str | None:
    """The state an agency acts for, normalised, or an error when a state-representing kind
    does not say which state it represents (its jurisdiction is where it sits, not whom it
    serves: an embassy of XX in NL is registered in NL)."""
    if represents_state is None or not represents_state.strip():
        if kind in STATE_REPRESENTING_KINDS:
            raise Unprocessable("represents_state_required",
                                "An embassy, consulate or country-of-origin authority must name the state it "
                                "represents (ISO 3166 alpha-2).")
        return None
    state = represents_state.strip().upper()
    if len(state) != 2 or not state.isascii() or not state.isalpha():
        raise Unprocessable("represents_state_invalid", "The represented state is an ISO 3166 alpha-2 code.")
    if state == jurisdiction.upper() and kind == AgencyKind.EMBASSY:
        raise Unprocessable("represents_state_invalid",
                            "An embassy or consulate represents the state that sent it, not the one it sits in.")
    return state


def register_agency(session: Session, spec: AgencySpec, *, actor: Actor, now: datetime) -> Agency:
    if session.get(Agency, spec.id) is not None:
        raise Conflict("agency_exists", "An agency with this id is already registered.")
    state = represented_state(str(spec.kind), spec.jurisdiction, spec.represents_state)
    if spec.vetted and spec.kind != AgencyKind.GATEWAY_OPERATOR and not spec.confidentiality_policy_version:
        # SEC17: a member agency is vetted only with the confidentiality policy it attests to on record.
        raise Unprocessable("confidentiality_policy_required", "A vetted agency attests to a confidentiality "
                            "policy: give its version (confidentiality_policy_version).")
    agency = Agency(
        id=spec.id,
        name=spec.name,
        kind=str(spec.kind),
        jurisdiction=alpha2(spec.jurisdiction),
        represents_state=state,
        vetting_status=VettingStatus.VETTED if spec.vetted else VettingStatus.PENDING,
        vetted_at=now if spec.vetted else None,
        mandated_reporter=spec.mandated_reporter,
        statutory_duties=sorted(set(spec.statutory_duties)),
        confidentiality_policy_version=spec.confidentiality_policy_version,
        exception_policy=[dict(e) for e in spec.exception_policy],
        scopes=DEFAULT_SCOPES.get(str(spec.kind), AGENCY_SCOPES),
        created_at=now,
    )
    session.add(agency)
    session.flush()
    record(
        session,
        AuditEvent(AuditTag.REGISTRY_AGENCY_REGISTER, details={"agency_id": spec.id, "kind": str(spec.kind),
                                                                     **({"represents_state": state} if state else {})}),
        actor=actor,
        at=now,
    )
    return agency


def get_agency(session: Session, agency_id: str) -> Agency:
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise NotFound("unknown_agency")
    return agency


def list_agencies(session: Session) -> list[Agency]:
    # Keys and endpoints in one query each, not one per agency.
    return list(session.scalars(select(Agency).order_by(Agency.id)
                                .options(selectinload(Agency.keys), selectinload(Agency.endpoints))))


def add_key(
    session: Session, agency_id: str, kind: KeyKind, public_key_b64: str, *, actor: Actor, now: datetime
) -> AgencyKey:
    agency = get_agency(session, agency_id)
    try:
        raw = b64u_decode(public_key_b64)
    except ValueError as exc:
        raise Unprocessable("invalid_public_key", "The public key is not base64url.") from exc
    if len(raw) != 32:
        raise Unprocessable("invalid_public_key", "A public key is exactly 32 bytes.")
    fp = key_fingerprint(raw, "x25519" if kind is KeyKind.ENCRYPTION else "ed25519")
    if session.scalar(select(AgencyKey).where(AgencyKey.fingerprint == fp)) is not None:
        raise Conflict("key_exists", "This public key is already registered.")
    key = AgencyKey(
        id=new_id("key", size=SHORT),
        agency_id=agency.id,
        kind=str(kind),
        public_key=public_key_b64,
        fingerprint=fp,
        status=TrustStatus.PENDING,
        created_at=now,
    )
    session.add(key)
    session.flush()
    record(
        session,
        AuditEvent(AuditTag.REGISTRY_KEY_ADD, details={"agency_id": agency.id, "key_id": key.id, "kind": key.kind}),
        actor=actor,
        at=now,
    )
    return key


def get_key(session: Session, agency_id: str, key_id: str) -> AgencyKey:
    key = session.get(AgencyKey, key_id)
    if key is None or key.agency_id != agency_id:
        raise NotFound("unknown_key")
    return key


def _verify(
    item: AgencyKey | AgencyEndpoint, what: str, read_back: str, tag: AuditTag, details: dict[str, str],
    session: Session, *, actor: Actor, now: datetime,
) -> None:
    """pending -> verified, only when the fingerprint read back over the phone matches.

    A mismatch raises ``fingerprint_mismatch`` and changes nothing; callers audit the
    refusal in a transaction of its own (see :func:`gateway.audit.log.record_refusal`).
    """
    if item.status != TrustStatus.PENDING:
        raise Conflict(f"{what}_{item.status}", f"Only a pending {what} can be verified; this one is {item.status}.")
    if not _fingerprint_matches(read_back, item.fingerprint):
        raise Unprocessable(
            "fingerprint_mismatch",
            f"The fingerprint read back does not match this {what}. Do not verify: call the agency "
            "on its known number and compare again.",
        )
    item.status = TrustStatus.VERIFIED
    item.verified_at = now
    item.verified_by = actor.user or actor.agency_id
    record(session, AuditEvent(tag, details=details), actor=actor, at=now)


def _revoke(
    item: AgencyKey | AgencyEndpoint, what: str, reason: str, tag: AuditTag, details: dict[str, str],
    session: Session, *, actor: Actor, now: datetime,
) -> None:
    """Any state -> revoked, at once and for good."""
    if item.status == TrustStatus.REVOKED:
        raise Conflict(f"{what}_revoked", f"This {what} is already revoked.")
    item.status = TrustStatus.REVOKED
    item.revoked_at = now
    item.revoked_reason = reason
    record(session, AuditEvent(tag, reason=reason[:80], details=details), actor=actor, at=now)


def verify_key(
    session: Session, agency_id: str, key_id: str, read_back: str, *, actor: Actor, now: datetime
) -> AgencyKey:
    """Mark a pending key verified if ``read_back`` equals its fingerprint."""
    key = get_key(session, agency_id, key_id)
    _verify(key, "key", read_back, AuditTag.REGISTRY_KEY_VERIFY, {"agency_id": agency_id, "key_id": key_id},
            session, actor=actor, now=now)
    return key


def revoke_key(
    session: Session, agency_id: str, key_id: str, reason: str, *, actor: Actor, now: datetime
) -> AgencyKey:
    key = get_key(session, agency_id, key_id)
    _revoke(key, "key", reason, AuditTag.REGISTRY_KEY_REVOKE, {"agency_id": agency_id, "key_id": key_id},
            session, actor=actor, now=now)
    return key


def add_endpoint(session: Session, agency_id: str, url: str, *, actor: Actor, now: datetime) -> AgencyEndpoint:
    agency = get_agency(session, agency_id)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise Unprocessable("invalid_endpoint_url", "Endpoints must be https URLs without credentials.")
    endpoint = AgencyEndpoint(
        id=new_id("ep", size=SHORT),
        agency_id=agency.id,
        url=url,
        fingerprint=endpoint_fingerprint(url),
        status=TrustStatus.PENDING,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    record(
        session,
        AuditEvent(AuditTag.REGISTRY_ENDPOINT_ADD, details={"agency_id": agency.id, "endpoint_id": endpoint.id}),
        actor=actor,
        at=now,
    )
    return endpoint


def get_endpoint(session: Session, agency_id: str, endpoint_id: str) -> AgencyEndpoint:
    endpoint = session.get(AgencyEndpoint, endpoint_id)
    if endpoint is None or endpoint.agency_id != agency_id:
        raise NotFound("unknown_endpoint")
    return endpoint


def verify_endpoint(
    session: Session, agency_id: str, endpoint_id: str, read_back: str, *, actor: Actor, now: datetime
) -> AgencyEndpoint:
    endpoint = get_endpoint(session, agency_id, endpoint_id)
    _verify(endpoint, "endpoint", read_back, AuditTag.REGISTRY_ENDPOINT_VERIFY,
            {"agency_id": agency_id, "endpoint_id": endpoint_id}, session, actor=actor, now=now)
    return endpoint


def revoke_endpoint(
    session: Session, agency_id: str, endpoint_id: str, reason: str, *, actor: Actor, now: datetime
) -> AgencyEndpoint:
    endpoint = get_endpoint(session, agency_id, endpoint_id)
    _revoke(endpoint, "endpoint", reason, AuditTag.REGISTRY_ENDPOINT_REVOKE,
            {"agency_id": agency_id, "endpoint_id": endpoint_id}, session, actor=actor, now=now)
    return endpoint


# ---------------------------------------------------------------- addressing

@dataclass(frozen=True)
class Recipient:
    """A recipient that may be addressed right now: vetted, with a verified encryption key."""

    agency: Agency
    encryption_key: AgencyKey


def resolve_recipient(session: Session, agency_id: str, key_id: str | None = None) -> Recipient:
    """The key a sender may seal to, or an error naming exactly why nothing may be sent.

    Reasons: ``unknown_recipient``, ``recipient_not_addressable`` (the operator),
    ``recipient_not_vetted``, ``recipient_key_pending``, ``recipient_key_revoked``,
    ``recipient_key_unknown``, ``no_verified_key``.
    """
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise Unprocessable("unknown_recipient", "The recipient is not a registered agency.")
    if agency.kind == AgencyKind.GATEWAY_OPERATOR:
        raise Unprocessable("recipient_not_addressable", "The gateway operator receives no referrals.")
    if agency.vetting_status != VettingStatus.VETTED:
        raise Unprocessable("recipient_not_vetted", "The recipient agency has not been vetted.")
    if key_id is not None:
        key = session.get(AgencyKey, key_id)
        if key is None or key.agency_id != agency_id or key.kind != KeyKind.ENCRYPTION:
            raise Unprocessable("recipient_key_unknown", "That key does not belong to the recipient.")
        if key.status == TrustStatus.PENDING:
            raise Unprocessable("recipient_key_pending", "The recipient's key is not verified yet.")
        if key.status == TrustStatus.REVOKED:
            raise Unprocessable("recipient_key_revoked", "The recipient's key has been revoked.")
        why = unbound_reason(key, chain(session, agency_id))
        if why is not None:
            raise Unprocessable(f"recipient_{why}", "The recipient's key is not bound by the recipient agency's own "
                                                    "signature; nothing is sealed to it.")
        return Recipient(agency, key)
    # The newest verified key the agency bound itself wins: a rotation binds a new key, then
    # revokes the old. A key the operator added and "verified" is passed over.
    bound = chain(session, agency_id)
    for key in session.scalars(
        select(AgencyKey)
        .where(AgencyKey.agency_id == agency_id, AgencyKey.kind == KeyKind.ENCRYPTION,
               AgencyKey.status == TrustStatus.VERIFIED)
        .order_by(AgencyKey.created_at.desc())
    ):
        if unbound_reason(key, bound) is None:
            return Recipient(agency, key)
    raise Unprocessable("no_verified_key", "The recipient has no verified encryption key bound by its own signature.")


def verified_signing_keys(agency: Agency) -> list[AgencyKey]:
    """The agency's signing keys the gateway accepts signatures from: verified *and* in the
    chain of bindings the agency signed itself (see :mod:`.binding_chain`)."""
    keys = [k for k in agency.keys if k.kind == KeyKind.SIGNING and k.status == TrustStatus.VERIFIED]
    session = object_session(agency)
    if not keys or session is None:
        return []
    bound = chain(session, agency.id)
    return [k for k in keys if unbound_reason(k, bound) is None]



def verified_endpoint(session: Session, agency_id: str, endpoint_id: str) -> AgencyEndpoint:
    """An endpoint that may receive a push now, or ``endpoint_unverified`` / ``endpoint_revoked``."""
    endpoint = session.get(AgencyEndpoint, endpoint_id)
    if endpoint is None or endpoint.agency_id != agency_id:
        raise Unprocessable("endpoint_unregistered", "That endpoint is not registered for the recipient.")
    if endpoint.status != TrustStatus.VERIFIED:
        raise Unprocessable(f"endpoint_{endpoint.status}", f"That endpoint is {endpoint.status}.")
    return endpoint
