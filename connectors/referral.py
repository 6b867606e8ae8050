"""Sealing and opening referrals on the agency side (the gateway never sees the plaintext).

Wire format (version 1) of what an agency submits::

    {
      "plan_id": ...,
      "manifest": {                      # signed by the sender's Ed25519 key (RFC 8785 canonical JSON)
        "type": "safe-referral/manifest", "v": 1, "envelope_id", "plan_id", "subject_id", "purpose",
        "sender_agency_id", "sender_key_id", "recipient_agency_id", "recipient_key_id",
        "fields": [{"name": ..., "ciphertext_hash": "sha256:..."}],   # sorted by name
        "preview": null | {"commitment": "hmac-sha256:...", "sealed": base64url sealed box},
        "created_at": RFC 3339
      },                                 # no other key: the gateway refuses any (manifest_invalid)
      "signature": base64url,
      "ciphertexts": {field name: base64url sealed box}
    }

Each field is sealed separately to the recipient's X25519 key (a fresh ephemeral key per
field, padded to 256-byte buckets); the envelope id and field name are sealed inside each
ciphertext, so a relay cannot move a ciphertext to another field or envelope. The gateway
checks names and hashes against the plan and the signature against the registry; only
the recipient can open the values.

The preview the person approved is bound by a *keyed* commitment: HMAC-SHA-256 under a fresh
random 256-bit key of the canonical JSON of the language and every name and value. The key and
the language travel sealed to the recipient (``preview.sealed``, bound to the envelope and to
the reserved name ``$preview``), so the recipient recomputes the commitment from what it opened,
while the gateway, which stores the commitment, cannot test a guessed name, language or address
against it (an unkeyed hash of such low-entropy values is searched with a dictionary in
milliseconds). Version 2 of the manifest; version 1 carried an unkeyed ``preview_hash``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crypto.canonical import JSON, canonical_json
from crypto.encoding import b64u_decode, b64u_encode
from crypto.envelope import ciphertext_hash, open_field, seal_field
from crypto.errors import CryptoError
from crypto.keys import AgencyKeyPair
from crypto.signing import sign_document, verify_document
from kernel.timestamps import rfc3339

from .errors import VerificationError

MANIFEST_VERSION = 2
PREVIEW_PART = "$preview"
"""The name the preview key and language are sealed under (no data field has a ``$``)."""
COMMITMENT_PREFIX = "hmac-sha256:"
MANIFEST_TYPE = "safe-referral/manifest"
"""Signed documents name their type, so a signature cannot be replayed as something else."""


@dataclass(frozen=True)
class Preview:
    """What the person sees before a referral goes: field names and values, and its commitment.

    The advocate records the person's approval against ``hash`` (the keyed commitment); the
    manifest carries the same commitment, and the key sealed to the recipient, whose SDK
    recomputes it from what it opened (CR18, CR19). ``key`` never goes to the gateway in clear.
    """

    language: str
    fields: dict[str, JSON]
    hash: str
    key: bytes = field(repr=False, default=b"")


def preview_commitment(fields: Mapping[str, JSON], language: str, key: bytes) -> str:
    """HMAC-SHA-256 under ``key`` (32 random bytes) of the language and every name and value."""
    if len(key) != 32:
        raise ValueError("a preview key is 32 random bytes")
    mac = hmac.new(key, canonical_json({"language": language, "fields": dict(fields)}), hashlib.sha256)
    return COMMITMENT_PREFIX + mac.hexdigest()


def make_preview(fields: Mapping[str, JSON], language: str, *, key: bytes | None = None) -> Preview:
    """A preview with a fresh random key (``key`` only for tests that need a fixed one)."""
    key = secrets.token_bytes(32) if key is None else key
    return Preview(language=language, fields=dict(fields), hash=preview_commitment(fields, language, key), key=key)


def seal_referral(
    *,
    plan: Mapping[str, Any],
    fields: Mapping[str, JSON],
    sender_agency_id: str,
    sender_keys: AgencyKeyPair,
    sender_key_id: str,
    recipient_key: Mapping[str, str],
    preview: Preview | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Seal ``fields`` (only those the plan permits) and sign the manifest.

    ``plan`` is the gateway's plan answer (``plan_id``, ``envelope_id``, ``subject_id``,
    ``purpose``, ``recipient_agency_id``, ``permitted_fields``); ``recipient_key`` is the
    registry's answer for the recipient (``key_id``, ``public_key``).
    """
    permitted = set(plan["permitted_fields"])
    outside = sorted(set(fields) - permitted)
    if outside:
        raise ValueError(f"fields outside the plan would be refused: {outside}")
    envelope_id = str(plan["envelope_id"])
    recipient_public = b64u_decode(recipient_key["public_key"])
    ciphertexts: dict[str, str] = {}
    entries = []
    for name in sorted(fields):
        sealed = seal_field(envelope_id, name, fields[name], recipient_public)
        ciphertexts[name] = b64u_encode(sealed)
        entries.append({"name": name, "ciphertext_hash": ciphertext_hash(sealed)})
    sealed_preview = None
    if preview is not None:
        if not hmac.compare_digest(preview.hash, preview_commitment(fields, preview.language, preview.key)):
            raise ValueError("the preview does not show exactly the fields being sent")
        sealed_preview = {"commitment": preview.hash, "sealed": b64u_encode(seal_field(
            envelope_id, PREVIEW_PART, {"key": b64u_encode(preview.key), "language": preview.language},
            recipient_public))}
    manifest = {
        "type": MANIFEST_TYPE,
        "v": MANIFEST_VERSION,
        "envelope_id": envelope_id,
        "plan_id": str(plan["plan_id"]),
        "subject_id": str(plan["subject_id"]),
        "purpose": str(plan["purpose"]),
        "sender_agency_id": sender_agency_id,
        "sender_key_id": sender_key_id,
        "recipient_agency_id": str(plan["recipient_agency_id"]),
        "recipient_key_id": str(recipient_key["key_id"]),
        "fields": entries,
        "preview": sealed_preview,
        "created_at": rfc3339(now or datetime.now(UTC)),
    }
    return {"plan_id": str(plan["plan_id"]), "manifest": manifest,
            "signature": sign_document(sender_keys.signing_seed, manifest), "ciphertexts": ciphertexts}


@dataclass(frozen=True)
class OpenedReferral:
    envelope_id: str
    subject_id: str
    purpose: str
    sender_agency_id: str
    fields: dict[str, JSON]
    manifest: dict[str, Any]
    language: str | None = None
    """The language of the preview the person approved (None: no preview)."""


def open_referral(
    envelope: Mapping[str, Any],
    *,
    recipient_agency_id: str,
    recipient_keys: AgencyKeyPair,
    sender_signing_public_b64: str,
) -> OpenedReferral:
    """Verify the sender's signature and every ciphertext hash, then decrypt.

    Raises :class:`VerificationError` on anything that does not check out: a wrong
    signature, a manifest for someone else, a ciphertext that is missing, extra, altered,
    or a preview hash that does not match the opened values.
    """
    manifest = dict(envelope["manifest"])
    try:
        verify_document(b64u_decode(sender_signing_public_b64), manifest, str(envelope["signature"]))
    except (CryptoError, ValueError) as exc:
        raise VerificationError("the sender's signature does not verify") from exc
    if manifest.get("type") != MANIFEST_TYPE or manifest.get("v") != MANIFEST_VERSION:
        raise VerificationError("unknown manifest version")
    if manifest.get("recipient_agency_id") != recipient_agency_id:
        raise VerificationError("this envelope is addressed to another agency")
    ciphertexts: Mapping[str, str] = envelope["ciphertexts"]
    listed = {e["name"]: e["ciphertext_hash"] for e in manifest["fields"]}
    if set(listed) != set(ciphertexts):
        raise VerificationError("ciphertexts do not match the manifest")
    envelope_id = str(manifest["envelope_id"])
    values: dict[str, JSON] = {}
    for name, b64 in ciphertexts.items():
        sealed = b64u_decode(b64)
        if ciphertext_hash(sealed) != listed[name]:
            raise VerificationError(f"ciphertext of {name} was altered")
        try:
            values[name] = open_field(envelope_id, name, sealed, recipient_keys.encryption_private)
        except CryptoError as exc:
            raise VerificationError(f"field {name} does not open with this key") from exc
    language = _check_preview(manifest.get("preview"), envelope_id, values, recipient_keys)
    return OpenedReferral(envelope_id=envelope_id, subject_id=str(manifest["subject_id"]),
                          purpose=str(manifest["purpose"]), sender_agency_id=str(manifest["sender_agency_id"]),
                          fields=values, manifest=manifest, language=language)


def _check_preview(preview: Any, envelope_id: str, values: Mapping[str, JSON],
                   recipient_keys: AgencyKeyPair) -> str | None:
    """Open the sealed preview key and language and recompute the commitment; the language, or None."""
    if preview is None:
        return None
    try:
        opened = open_field(envelope_id, PREVIEW_PART, b64u_decode(str(preview["sealed"])),
                            recipient_keys.encryption_private)
        if not isinstance(opened, dict):
            raise VerificationError("the sealed preview is malformed")
        key, language = b64u_decode(str(opened["key"])), str(opened["language"])
        expected = preview_commitment(values, language, key)
    except (CryptoError, KeyError, TypeError, ValueError) as exc:
        raise VerificationError("the sealed preview does not open") from exc
    if not hmac.compare_digest(expected, str(preview.get("commitment"))):
        raise VerificationError("the payload differs from what the person previewed")
    return language
