"""Keys an agency binds itself, and the proofs a sender's SDK checks before trusting a key.

``bind_key`` adds a key that the agency signed a binding for with one of its current,
verified signing keys (a rotation, or a new purpose). The key is usable at once, since the
agency itself vouched for it, and the binding and its signature go into the audit log
(``registry:key:bind``), a leaf the SDK proves against a witnessed checkpoint.

``key_proof`` serves, for one key, every log entry about it with an inclusion proof in the
newest witnessed checkpoint, and that checkpoint's note. The SDK decides; the gateway only
hands out evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import note as notes
from crypto.binding import verify_binding
from crypto.encoding import b64u_decode
from crypto.passwords import random_token
from crypto.revocation import verify_revocation
from kernel.ids import SHORT, new_id

from ..audit import tree
from ..audit.log import Actor, AuditEvent, entry_document, record
from ..audit.models import AuditEntry
from ..audit.notes import latest_noted, note_with_cosignatures
from ..audit.tags import AuditTag
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from .binding_chain import chain
from .models import AgencyKey, EnrolmentSecret, KeyKind, TrustStatus
from .service import add_key, get_agency, verified_signing_keys

KEY_ACTIONS = tuple(str(t) for t in (AuditTag.REGISTRY_KEY_ADD, AuditTag.REGISTRY_KEY_VERIFY,
                                     AuditTag.REGISTRY_KEY_BIND, AuditTag.REGISTRY_KEY_REVOKE,
                                     AuditTag.REGISTRY_KEY_REVOKE_SIGNED))


def bind_key(session: Session, agency_id: str, binding: dict[str, Any], signature: str, *, actor: Actor,
             now: datetime) -> AgencyKey:
    """Add and verify the key ``binding`` names, if a current signing key of the agency signed it."""
    agency = get_agency(session, agency_id)
    if binding.get("agency_id") != agency_id:
        raise Forbidden("binding_for_another_agency", "A binding names the agency that signs it.")
    signer = next((k for k in verified_signing_keys(agency) if k.fingerprint == binding.get("signed_by")), None)
    if signer is None or not verify_binding(binding, signature, b64u_decode(signer.public_key)):
        raise Unprocessable("binding_signature_invalid",
                            "The binding is not signed by a current verified signing key of this agency.")
    try:
        kind = KeyKind(str(binding["kind"]))
    except ValueError:
        raise Unprocessable("invalid_binding", "Unknown key kind.") from None
    key = add_key(session, agency_id, kind, str(binding["public_key"]), actor=actor, now=now)
    key.status = TrustStatus.VERIFIED
    key.verified_at = now
    key.verified_by = f"binding:{signer.id}"
    record(session, AuditEvent(AuditTag.REGISTRY_KEY_BIND, decision="allow", details={
        "agency_id": agency_id, "key_id": key.id, "kind": key.kind, "public_key": key.public_key,
        "fingerprint": key.fingerprint, "binding": binding, "signature": signature, "signed_by": signer.id,
    }), actor=actor, at=now)
    return key


def revoke_signed(session: Session, agency_id: str, key_id: str, revocation: dict[str, Any], signature: str, *,
                  now: datetime) -> AgencyKey:
    """Revoke ``key_id`` on the agency's own signed word: a revocation signed by one of its bound signing
    keys (the revoked key itself, or its other one). Logged with the signature, so a sender's SDK proves it."""
    agency = get_agency(session, agency_id)
    key = session.get(AgencyKey, key_id)
    if key is None or key.agency_id != agency_id:
        raise NotFound("unknown_key")
    if (revocation.get("agency_id"), revocation.get("public_key"), revocation.get("kind")) != (
            agency_id, key.public_key, key.kind):
        raise Unprocessable("invalid_revocation", "A revocation names the agency, the key and its kind.")
    signer = next((k for k in verified_signing_keys(agency) if k.fingerprint == revocation.get("signed_by")), None)
    if signer is None or not verify_revocation(revocation, signature, b64u_decode(signer.public_key)):
        raise Unprocessable("revocation_signature_invalid",
                            "The revocation is not signed by a signing key this agency bound itself.")
    if key.status != TrustStatus.REVOKED:
        key.status, key.revoked_at = TrustStatus.REVOKED, now
        key.revoked_reason = str(revocation.get("reason", ""))[:200]
    record(session, AuditEvent(AuditTag.REGISTRY_KEY_REVOKE_SIGNED, decision="allow", reason="revoked_by_agency",
                               details={"agency_id": agency_id, "key_id": key.id, "kind": key.kind,
                                        "public_key": key.public_key, "fingerprint": key.fingerprint,
                                        "revocation": revocation, "signature": signature, "signed_by": signer.id}),
           actor=Actor(agency_id=agency_id, role="agency-signature"), at=now)
    return key


ENROLMENT_TTL = timedelta(days=14)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(b"safe-referral enrolment secret v1\x00" + secret.encode()).hexdigest()


def issue_enrolment_secret(session: Session, agency_id: str, *, actor: Actor, now: datetime) -> tuple[str, str]:
    """A one-time enrolment secret for ``agency_id`` (shown once; give it to the agency out of band)."""
    get_agency(session, agency_id)
    secret = random_token(24)
    row = EnrolmentSecret(id=new_id("enrol", size=SHORT), agency_id=agency_id, secret_hash=_secret_hash(secret),
                          created_at=now, expires_at=now + ENROLMENT_TTL)
    session.add(row)
    session.flush()
    record(session, AuditEvent(AuditTag.REGISTRY_ENROLMENT_ISSUE, decision="allow",
                               details={"agency_id": agency_id, "enrolment_id": row.id}), actor=actor, at=now)
    return row.id, secret


def enrol(session: Session, agency_id: str, secret: str, bindings: list[tuple[dict[str, Any], str]], *,
          now: datetime) -> list[AgencyKey]:
    """First enrolment: the agency's signing key and encryption key, each bound by a binding the new signing
    key signed, authorised by an unused enrolment secret (which this consumes)."""
    row = session.scalar(select(EnrolmentSecret).where(EnrolmentSecret.secret_hash == _secret_hash(secret)))
    if row is None or row.agency_id != agency_id or row.used_at is not None or row.expires_at <= now:
        raise Forbidden("enrolment_refused", "This enrolment secret is unknown, used, expired or for another agency.")
    if chain(session, agency_id).root is not None:
        # Only the first enrolment roots an agency's keys; after it, keys are bound by the agency's own
        # signing key. An operator who issues itself a new secret cannot enrol keys in the agency's name.
        raise Forbidden("already_enrolled", "This agency has enrolled already: bind new keys with its signing key.")
    signing = [b for b in bindings if b[0].get("kind") == "ed25519"]
    if len(signing) != 1 or len(bindings) > 2:
        raise Unprocessable("invalid_binding", "Enrol one signing key (and at most one encryption key).")
    try:
        signer_public = b64u_decode(str(signing[0][0].get("public_key")))
    except ValueError:
        raise Unprocessable("invalid_binding", "The signing key is not base64url.") from None
    if len(signer_public) != 32:
        raise Unprocessable("invalid_binding", "A signing key is 32 bytes.")
    actor = Actor(agency_id=agency_id, role="enrolment")
    keys: list[AgencyKey] = []
    for binding, signature in sorted(bindings, key=lambda b: b[0].get("kind") != "ed25519"):
        if binding.get("agency_id") != agency_id or not verify_binding(binding, signature, signer_public):
            raise Unprocessable("binding_signature_invalid", "Each binding is signed by the new signing key.")
        key = add_key(session, agency_id, KeyKind(str(binding["kind"])), str(binding["public_key"]), actor=actor,
                      now=now)
        key.status, key.verified_at, key.verified_by = TrustStatus.VERIFIED, now, f"enrolment:{row.id}"
        record(session, AuditEvent(AuditTag.REGISTRY_KEY_BIND, decision="allow", details={
            "agency_id": agency_id, "key_id": key.id, "kind": key.kind, "public_key": key.public_key,
            "fingerprint": key.fingerprint, "binding": binding, "signature": signature,
            "signed_by": "enrolment", "enrolment_id": row.id,
        }), actor=actor, at=now)
        keys.append(key)
    row.used_at = now
    return keys


@dataclass(frozen=True)
class KeyProof:
    key: AgencyKey
    checkpoint: str
    tree_size: int
    events: list[dict[str, Any]]


def key_events(session: Session, agency_id: str) -> list[AuditEntry]:
    """Every log entry about the keys of ``agency_id``, oldest first (public: keys are public)."""
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(KEY_ACTIONS), AuditEntry.details["agency_id"].as_string() == agency_id,
    ).order_by(AuditEntry.seq)))


def key_proof(session: Session, agency_id: str, key_id: str) -> KeyProof:
    key = session.get(AgencyKey, key_id)
    if key is None or key.agency_id != agency_id:
        raise NotFound("unknown_key")
    row = latest_noted(session, witnessed=True)
    if row is None:
        raise Conflict("not_witnessed", "No witnessed checkpoint yet; ask again in a few seconds.")
    note = note_with_cosignatures(session, row)
    size = notes.parse_checkpoint(notes.parse_note(note).text).size
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(KEY_ACTIONS), AuditEntry.details["key_id"].as_string() == key_id,
        AuditEntry.seq < size,
    ).order_by(AuditEntry.seq))
    events = [{"entry": {**entry_document(e), "leaf_hash": e.leaf_hash},
               "proof": [p.hex() for p in tree.inclusion_proof(session, e.seq, size)]} for e in entries]
    if not events:
        raise Conflict("not_witnessed", "This key's events are not in a witnessed checkpoint yet; ask again in a "
                                        "few seconds.")
    return KeyProof(key=key, checkpoint=note, tree_size=size, events=events)
