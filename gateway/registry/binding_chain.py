"""The agency-signed binding chain: which of an agency's keys the gateway itself will use.

A key row marked ``verified`` is not enough: whoever runs the gateway can add one with its
token (``POST .../keys`` then ``.../verify``) or write one straight into the database. The
gateway relays to, and accepts signatures and client assertions from, a key only if the
audit log (append-only, witnessed) holds a chain of bindings the agency signed itself:

* the *root* is the agency's first enrolment (``registry:key:bind`` entries with
  ``signed_by == "enrolment"`` and one ``enrolment_id``): its signing key signed its own
  binding and that of the encryption key enrolled with it. A later enrolment is never a
  root (an operator who issues itself a second enrolment secret gains nothing);
* every other binding is signed by a signing key already in the chain and not revoked
  (a rotation), checked against the public key *in the log*, not the mutable key table;
* a ``registry:key:revoke`` entry takes a key out of the chain for good (whoever revoked
  it: a revocation can deny service, never substitute a key).

:func:`chain` reads the agency's key events once and returns the key ids in the chain with
the public key the agency bound; :func:`unbound_reason` says why one key is not usable.
Pure decisions over log entries; the only I/O is the one query in :func:`chain`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.binding import verify_binding
from crypto.encoding import b64u_decode

from ..audit.models import AuditEntry
from ..audit.tags import AuditTag
from .models import AgencyKey, TrustStatus

__all__ = ["Chain", "chain", "chain_of", "unbound_reason"]

BIND = str(AuditTag.REGISTRY_KEY_BIND)
REVOKE = str(AuditTag.REGISTRY_KEY_REVOKE)
KEY_REVOKE_SIGNED = str(AuditTag.REGISTRY_KEY_REVOKE_SIGNED)  # an agency-signed revocation


@dataclass
class Chain:
    """The keys an agency bound itself: key id -> (kind, public key as bound)."""

    bound: dict[str, tuple[str, str]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    root: str | None = None
    """The enrolment id of the agency's first enrolment."""
    root_key: str | None = None
    """The signing key that enrolment bound (it signs the enrolment's encryption key)."""
    signatures_checked: int = 0


def _public(b64: str) -> bytes | None:
    try:
        raw = b64u_decode(b64)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def chain_of(agency_id: str, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> Chain:
    """Walk ``(action, details)`` of an agency's key events, oldest first, and return its chain."""
    out = Chain()
    for action, details in entries:
        key_id = str(details.get("key_id", ""))
        if action in (REVOKE, KEY_REVOKE_SIGNED):
            out.bound.pop(key_id, None)
            out.revoked.add(key_id)
            continue
        if action != BIND or key_id in out.revoked or key_id in out.bound:
            continue
        binding = details.get("binding")
        signature = str(details.get("signature", ""))
        if not isinstance(binding, Mapping) or binding.get("agency_id") != agency_id:
            continue
        kind, public_key = str(binding.get("kind")), str(binding.get("public_key"))
        if details.get("public_key") != public_key or str(details.get("kind")) != kind:
            continue
        if details.get("signed_by") == "enrolment":
            enrolment = str(details.get("enrolment_id", ""))
            if out.root is None and kind == "ed25519":
                signer = _public(public_key)  # the root signs its own binding
            elif out.root == enrolment and kind == "x25519":
                root = out.bound.get(out.root_key or "")
                signer = _public(root[1]) if root is not None else None
            else:
                continue  # a second enrolment is never a root
            out.signatures_checked += 1
            if signer is not None and verify_binding(binding, signature, signer):
                out.bound[key_id] = (kind, public_key)
                if out.root is None:
                    out.root = enrolment
                    out.root_key = key_id
            continue
        signer_id = str(details.get("signed_by", ""))
        signer_entry = out.bound.get(signer_id)
        if signer_entry is None or signer_entry[0] != "ed25519":
            continue
        signer = _public(signer_entry[1])
        out.signatures_checked += 1
        if signer is not None and verify_binding(binding, signature, signer):
            out.bound[key_id] = (kind, public_key)
    return out


def chain(session: Session, agency_id: str) -> Chain:
    """The chain of ``agency_id`` from its key events in the audit log (one query)."""
    rows = session.execute(select(AuditEntry.action, AuditEntry.details).where(
        AuditEntry.action.in_((BIND, REVOKE, KEY_REVOKE_SIGNED)),
        AuditEntry.details["agency_id"].as_string() == agency_id,
    ).order_by(AuditEntry.seq))
    return chain_of(agency_id, ((str(a), d or {}) for a, d in rows))


def unbound_reason(key: AgencyKey, bound: Chain) -> str | None:
    """``None`` when the gateway may use ``key``; else why not (``key_revoked``, ``key_not_bound_by_agency``)."""
    if key.status == TrustStatus.REVOKED or key.id in bound.revoked:
        return "key_revoked"
    held = bound.bound.get(key.id)
    if key.status != TrustStatus.VERIFIED or held is None or held != (key.kind, key.public_key):
        return "key_not_bound_by_agency"
    return None
