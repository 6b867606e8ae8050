"""The signed files of a release: JSON and CSV, each verifiable with the gateway's public key.

- JSON: ``{"release": <document>, "signature": <base64url Ed25519 over the RFC 8785 canonical
  JSON of the document>}``; the document names its type, so the signature cannot be passed off
  as any other kind of gateway signature.
- CSV: ``#`` lines with the parameters, the table (a suppressed cell is empty, with
  ``status`` = ``suppressed``), and a last line ``# signature: ed25519 <key id> <base64url>``
  over every byte before that line (UTF-8, ``\\n`` line ends).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from crypto.canonical import canonical_json
from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import InvalidSignature
from crypto.keys import jwk_kid, signing_public_key
from crypto.signing import sign, verify, verify_document

__all__ = ["release_csv", "release_json", "verify_csv", "verify_json"]

SIGNATURE_PREFIX = "# signature: ed25519 "


def release_json(document: dict[str, Any], signature: str) -> bytes:
    return canonical_json({"release": document, "signature": signature})


def _csv_body(document: dict[str, Any]) -> str:
    params = document["parameters"]
    lines = [
        f"# statistics release {document['release_id']} ({document['type']})",
        f"# released at {document['released_at']} by {document['released_by']['role']}",
        f"# table: {json.dumps(document['table'], sort_keys=True)}",
        f"# epsilon: {params['epsilon']}",
        f"# delta: {params['delta']}",
        f"# k (smallest count published): {params['k']}",
        f"# mechanism: {params['mechanism']} (opendp {params['opendp_version']})",
        f"# privacy unit: {params['privacy_unit']}",
        f"# budget: {params['budget_per_period']} per {params['budget_period']}; "
        f"charged to {', '.join(params['budget_years_charged'])}",
        f"# suppressed: {document['suppressed']['count']} of {len(document['rows'])} cells "
        f"({document['suppressed']['rule']})",
        f"# expected error: {document['expected_error']['plain']}",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*document["columns"], "status"])
    for row in document["rows"]:
        value = row[-1]
        writer.writerow([*row[:-1], "" if value is None else value, "suppressed" if value is None else "published"])
    return "\n".join(lines) + "\n" + out.getvalue()


def release_csv(document: dict[str, Any], seed: bytes) -> str:
    """The CSV file, signed over its own bytes on the last line."""
    body = _csv_body(document)
    kid = jwk_kid(signing_public_key(seed))
    return body + SIGNATURE_PREFIX + kid + " " + b64u_encode(sign(seed, body.encode("utf-8"))) + "\n"


def verify_json(data: bytes, public: bytes) -> dict[str, Any]:
    """The release document if ``public`` signed it; :class:`InvalidSignature` otherwise."""
    try:
        parsed = json.loads(data)
        document, signature = parsed["release"], parsed["signature"]
    except (ValueError, KeyError, TypeError):
        raise InvalidSignature("not a signed statistics release") from None
    if not isinstance(document, dict) or document.get("type") != "safe-referral-gateway/statistics-release/v1":
        raise InvalidSignature("not a signed statistics release")
    verify_document(public, document, signature)
    return document


def verify_csv(text: str, public: bytes) -> str:
    """The CSV without its signature line if ``public`` signed it; :class:`InvalidSignature` otherwise."""
    body, _, last = text.rstrip("\n").rpartition("\n")
    body += "\n"
    if not last.startswith(SIGNATURE_PREFIX):
        raise InvalidSignature("no signature line")
    parts = last[len(SIGNATURE_PREFIX):].split(" ")
    if len(parts) != 2 or parts[0] != jwk_kid(public):
        raise InvalidSignature("signed by another key")
    try:
        signature = b64u_decode(parts[1])
    except ValueError:
        raise InvalidSignature("malformed signature") from None
    verify(public, body.encode("utf-8"), signature)
    return body
