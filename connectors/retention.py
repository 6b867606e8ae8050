"""Sealing and erasure notices as a recipient agency reads them (issue 22).

The gateway signs each notice with its Ed25519 key (the one its JWKS publishes) and seals the
reference, ``{"envelope_ids": [...]}`` your agency received about the person, to your encryption
key. :func:`open_notice` checks the signature and opens the reference; your system then seals,
vacates, expunges or erases its copies of those envelopes' data for the classes named, and
acknowledges the notice (:meth:`connectors.client.GatewayClient.acknowledge_retention_notice`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto.encoding import b64u_decode
from crypto.envelope import open_field
from crypto.errors import CryptoError
from crypto.keys import AgencyKeyPair
from crypto.signing import verify_document

from .errors import VerificationError

__all__ = ["REFERENCE_FIELD", "RetentionNotice", "open_notice"]

REFERENCE_FIELD = "reference"


@dataclass(frozen=True)
class RetentionNotice:
    id: str
    action: str
    """``sealed``, ``vacated``, ``expunged`` or ``erased``."""
    classes: tuple[str, ...]
    envelope_ids: tuple[str, ...] | None
    """The envelopes your agency received about the person (None: the gateway had no key of yours
    to seal the reference to; ask the sender's DPO)."""
    ack_due: str
    acknowledged_at: str | None
    overdue: bool


def open_notice(item: dict[str, Any], *, agency_id: str, gateway_public: bytes, keys: AgencyKeyPair) -> RetentionNotice:
    """Verify one ``GET /v1/retention/notices`` item and open its reference; :class:`VerificationError`
    if the signature fails, the notice is addressed to another agency, or the reference does not open."""
    notice = item.get("notice")
    if not isinstance(notice, dict):
        raise VerificationError("a notice without its document")
    try:
        verify_document(gateway_public, notice, str(item.get("signature", "")))
    except CryptoError:
        raise VerificationError("the notice's signature is not the gateway's") from None
    if notice.get("agency_id") != agency_id:
        raise VerificationError("the notice is addressed to another agency")
    envelope_ids: tuple[str, ...] | None = None
    if notice.get("reference") is not None:
        try:
            opened = open_field(str(notice["notice_id"]), REFERENCE_FIELD, b64u_decode(str(notice["reference"])),
                                keys.encryption_private)
        except (CryptoError, ValueError):
            raise VerificationError("the notice's reference does not open with your key") from None
        listed = opened.get("envelope_ids") if isinstance(opened, dict) else None
        if not isinstance(listed, list):
            raise VerificationError("the notice's reference is not a list of envelopes")
        envelope_ids = tuple(str(e) for e in listed)
    return RetentionNotice(id=str(notice["notice_id"]), action=str(notice["action"]),
                           classes=tuple(str(c) for c in notice.get("classes") or ()), envelope_ids=envelope_ids,
                           ack_due=str(notice["ack_due"]), acknowledged_at=item.get("acknowledged_at"),
                           overdue=bool(item.get("overdue")))
