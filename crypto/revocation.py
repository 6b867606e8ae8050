"""Key revocations: an agency's own signed statement "this key of mine is revoked, for good".

A revocation is the RFC 8785 JSON document::

    {"type": "safe-referral-gateway/key-revocation/v1", "agency_id": "shelter", "kind": "x25519",
     "public_key": "<base64url>", "reason": "device lost", "signed_by": "<fingerprint>", "at": "<RFC 3339>"}

signed (detached Ed25519, base64url) by one of the agency's bound signing keys (the revoked key
itself, or the agency's other signing key when the revoked one is lost). The gateway logs it as
``registry:key:revoke_signed``; a sender's SDK proves it in the witnessed log and refuses the key
(``key_revoked``). The operator can revoke a key too (a denial of service), but cannot forge this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto.keys import fingerprint, signing_public_key
from crypto.signing import sign_document, verify_statement

__all__ = ["REVOCATION_TYPE", "make_revocation", "verify_revocation"]

REVOCATION_TYPE = "safe-referral-gateway/key-revocation/v1"
_FIELDS = frozenset({"type", "agency_id", "kind", "public_key", "reason", "signed_by", "at"})


def make_revocation(*, agency_id: str, kind: str, public_key_b64: str, reason: str, signing_seed: bytes,
                    at: str) -> tuple[dict[str, Any], str]:
    """A revocation of ``public_key_b64`` of ``agency_id``, signed by ``signing_seed``: (document, signature)."""
    if kind not in ("x25519", "ed25519"):
        raise ValueError("kind is x25519 or ed25519")
    document: dict[str, Any] = {
        "type": REVOCATION_TYPE, "agency_id": agency_id, "kind": kind, "public_key": public_key_b64,
        "reason": reason, "signed_by": fingerprint(signing_public_key(signing_seed), "ed25519"), "at": at,
    }
    return document, sign_document(signing_seed, document)


def verify_revocation(document: Mapping[str, Any], signature: str, signer_public: bytes) -> bool:
    """Whether ``document`` is a well-formed revocation signed by ``signer_public`` (and names it)."""
    return verify_statement(document, signature, signer_public, statement_type=REVOCATION_TYPE, fields=_FIELDS)
