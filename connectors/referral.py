"""Sealing and opening referrals on the agency side (the gateway never sees the plaintext).

Wire format (version 1) of what an agency submits::

    {
      "plan_id": ...,
      "manifest": {                      # signed by the sender's Ed25519 key (RFC 8785 canonical JSON)
        "type": "safe-referral/manifest", "v": 1, "envelope_id", "plan_id", "subject_id", "purpose",
        "sender_agency_id", "sender_key_id", "recipient_agency_id", "recipient_key_id",
        "fields": [{"name": ..., "ciphertext_hash": "sha256:..."}],   # sorted by name
        "preview_hash": null | "sha256:...", "language": null | "fr", "created_at": RFC 3339
      },
      "signature": base64url,
      "ciphertexts": {field name: base64url sealed box}
    }

Each field is sealed separately to the recipient's X25519 key (a fresh ephemeral key per
field, padded to 256-byte buckets); the envelope id and field name are sealed inside each
ciphertext, so a relay cannot move a ciphertext to another field or envelope. The gateway
checks names and hashes against the plan and the signature against the registry; only
the recipient can open the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crypto.canonical import JSON, canonical_json, sha256_hex
from crypto.encoding import b64u_decode, b64u_encode
from crypto.envelope import ciphertext_hash, open_field, seal_field
from crypto.errors import CryptoError
from crypto.keys import AgencyKeyPair
from crypto.signing import sign_document, verify_document

from .errors import VerificationError

MANIFEST_VERSION = 1
MANIFEST_TYPE = "safe-referral/manifest"
"""Signed documents name their type, so a signature cannot be replayed as something else."""


@dataclass(frozen=True)
class Preview:
    """What the person sees before a referral goes: field names and values, and its hash.

    The advocate records the person's approval against ``hash``; the manifest carries the
    same hash and the recipient's SDK recomputes it from what it opened (CR18, CR19).
    """

    language: str
    fields: dict[str, JSON]
    hash: str


def preview_hash(fields: Mapping[str, JSON], language: str) -> str:
    """The hash that binds a preview to the sealed payload: language plus every name and value."""
    return sha256_hex(canonical_json({"language": language, "fields": dict(fields)}))


def make_preview(fields: Mapping[str, JSON], language: str) -> Preview:
    return Preview(language=language, fields=dict(fields), hash=preview_hash(fields, language))


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
    if preview is not None and preview.hash != preview_hash(fields, preview.language):
        raise ValueError("the preview does not show exactly the fields being sent")
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
        "preview_hash": preview.hash if preview else None,
        "language": preview.language if preview else None,
        "created_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
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
    if manifest.get("preview_hash") is not None and preview_hash(values, str(manifest.get("language"))) != \
            manifest["preview_hash"]:
        raise VerificationError("the payload differs from what the person previewed")
    return OpenedReferral(envelope_id=envelope_id, subject_id=str(manifest["subject_id"]),
                          purpose=str(manifest["purpose"]), sender_agency_id=str(manifest["sender_agency_id"]),
                          fields=values, manifest=manifest)
