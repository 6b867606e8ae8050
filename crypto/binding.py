"""Key bindings: an agency's own signed statement "this public key is mine, for this purpose".

A binding is the RFC 8785 JSON document::

    {"type": "safe-referral-gateway/key-binding/v1", "agency_id": "shelter", "kind": "x25519",
     "public_key": "<base64url>", "signed_by": "<fingerprint of the signing key>", "at": "<RFC 3339>"}

signed (detached Ed25519, base64url) by the agency's *current* signing key, whose fingerprint
``signed_by`` names. The gateway logs the binding and its signature as an audit entry
(``registry:key:bind``), so a sender can check the key was bound by the agency itself,
and was published in the witnessed log, rather than put there by whoever runs the gateway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto.keys import fingerprint, signing_public_key
from crypto.signing import sign_document, verify_statement

__all__ = ["BINDING_TYPE", "make_binding", "verify_binding"]

BINDING_TYPE = "safe-referral-gateway/key-binding/v1"
_FIELDS = frozenset({"type", "agency_id", "kind", "public_key", "signed_by", "at"})


def make_binding(*, agency_id: str, kind: str, public_key_b64: str, signing_seed: bytes,
                 at: str) -> tuple[dict[str, Any], str]:
    """A binding of ``public_key_b64`` to ``agency_id``, signed by ``signing_seed``; returns (document, signature)."""
    if kind not in ("x25519", "ed25519"):
        raise ValueError("kind is x25519 or ed25519")
    document: dict[str, Any] = {
        "type": BINDING_TYPE, "agency_id": agency_id, "kind": kind, "public_key": public_key_b64,
        "signed_by": fingerprint(signing_public_key(signing_seed), "ed25519"), "at": at,
    }
    return document, sign_document(signing_seed, document)


def verify_binding(document: Mapping[str, Any], signature: str, signer_public: bytes) -> bool:
    """Whether ``document`` is a well-formed binding signed by ``signer_public`` (and names it)."""
    return verify_statement(document, signature, signer_public, statement_type=BINDING_TYPE, fields=_FIELDS)
