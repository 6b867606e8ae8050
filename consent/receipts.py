"""Signed receipts: what the person agreed to (or withdrew), verifiable by anyone.

On every grant and withdrawal the gateway signs a compact JWS (EdDSA, Ed25519) with its own
signing key: the one whose public half it serves at ``/.well-known/jwks.json``. A receipt
lists ids and codes only (the subject's pseudonym, never a name): receipt id, kind,
consent id, purpose, recipients (ids and registered names), scope, data classes, dates,
and how to withdraw. The gateway passes the seed and ``kid`` in; consent never reads keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from crypto.jws import sign_jws, verify_jws
from crypto.keys import jwk_kid, signing_public_key
from kernel.ids import SHORT, new_id
from kernel.timestamps import rfc3339

from .directory import AgencyDirectory
from .models import ConsentReceipt, ConsentRecord

__all__ = ["RECEIPT_TYPE", "ReceiptSigner", "issue_receipt", "receipt_claims", "verify_receipt"]

RECEIPT_TYPE = "consent-receipt+jws"
RECEIPT_VERSION = 1


@dataclass(frozen=True)
class ReceiptSigner:
    """The gateway's signing seed and key id, passed in by the gateway."""

    seed: bytes = field(repr=False)
    issuer: str
    portal_url: str
    kid: str = ""

    def __post_init__(self) -> None:
        if not self.kid:
            object.__setattr__(self, "kid", jwk_kid(signing_public_key(self.seed)))

    @property
    def public_key(self) -> bytes:
        """The Ed25519 public key receipts verify with (the one the gateway publishes)."""
        return signing_public_key(self.seed)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS over the canonical JSON of ``claims``."""
        return sign_jws(claims, self.seed, kid=self.kid, typ=RECEIPT_TYPE)


def receipt_claims(
    record: ConsentRecord,
    *,
    receipt_id: str,
    kind: str,
    issued_at: datetime,
    directory: AgencyDirectory,
    issuer: str,
    portal_url: str,
    withdrawn_at: datetime | None = None,
) -> dict[str, Any]:
    """The signed content of a receipt (ids, codes and dates only)."""
    recipients = []
    for r in sorted(record.recipients, key=lambda r: r.agency_id):
        agency = directory.get(r.agency_id)
        entry: dict[str, Any] = {"agency_id": r.agency_id, "name": agency.name if agency else r.agency_id}
        if r.country:
            entry["country"] = r.country
        if r.organisation:
            entry["organisation"] = r.organisation
        recipients.append(entry)
    claims: dict[str, Any] = {
        "v": RECEIPT_VERSION,
        "iss": issuer,
        "receipt_id": receipt_id,
        "kind": kind,
        "issued_at": rfc3339(issued_at),
        "consent_id": record.id,
        "version": record.version,
        "supersedes": record.supersedes_id,
        "subject": record.subject_id,
        "purpose": record.purpose,
        "recipients": recipients,
        "scope": record.scope,
        "data_classes": sorted(record.data_classes, key=lambda c: int(c[1:])),
        "cj_option": record.cj_option,
        "channel": record.channel,
        "obtained_at": rfc3339(record.obtained_at),
        "expires_at": rfc3339(record.expires_at),
        "obtained_by_agency_id": record.obtaining_agency_id,
        "how_to_withdraw": {
            "one_step": True,
            "portal": portal_url,
            "advocate_agency_id": record.obtaining_agency_id,
            "api": f"POST /v1/consents/{record.id}/withdraw",
        },
    }
    if withdrawn_at is not None:
        claims["withdrawn_at"] = rfc3339(withdrawn_at)
    return claims


def issue_receipt(
    session: Session,
    record: ConsentRecord,
    *,
    kind: str,
    signer: ReceiptSigner,
    directory: AgencyDirectory,
    now: datetime,
    withdrawn_at: datetime | None = None,
) -> ConsentReceipt:
    """Sign and store a receipt for ``record`` in the caller's transaction."""
    receipt_id = new_id("rcpt", size=SHORT)
    claims = receipt_claims(record, receipt_id=receipt_id, kind=kind, issued_at=now, directory=directory,
                            issuer=signer.issuer, portal_url=signer.portal_url, withdrawn_at=withdrawn_at)
    receipt = ConsentReceipt(id=receipt_id, consent_id=record.id, kind=kind, issued_at=now,
                             jws=signer.sign(claims))
    session.add(receipt)
    session.flush()
    return receipt


def verify_receipt(token: str, public_key: bytes) -> dict[str, Any]:
    """The claims of a genuine receipt; :class:`crypto.errors.InvalidSignature` for anything else."""
    return verify_jws(token, public_key, typ=RECEIPT_TYPE)
