"""The signed manifest's schema: exactly the keys the protocol defines (``connectors.referral``).

A manifest is stored and relayed to the recipient as sent, so anything a sender could add
beside the protocol's keys (a name, an address, a phone number) would ride along in the
gateway's tables. :func:`check_manifest` refuses any other key, anywhere in the document, and
any value of the wrong shape, with ``manifest_invalid`` (422) before anything else is looked at.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.referral import COMMITMENT_PREFIX, MANIFEST_TYPE, MANIFEST_VERSION

from ..errors import Unprocessable

__all__ = ["check_manifest"]

_ID = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _FieldEntry(_Strict):
    name: str = Field(max_length=120, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,4}$")
    ciphertext_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class _Preview(_Strict):
    commitment: str = Field(pattern="^" + COMMITMENT_PREFIX + r"[0-9a-f]{64}$")
    sealed: str = Field(min_length=40, max_length=4096, pattern=r"^[A-Za-z0-9_-]+$")


class _Manifest(_Strict):
    type: Literal["safe-referral/manifest"]
    v: Literal[2]
    envelope_id: str = _ID
    plan_id: str = _ID
    subject_id: str = _ID
    purpose: str = Field(min_length=2, max_length=40, pattern=r"^[a-z_]+$")
    sender_agency_id: str = _ID
    sender_key_id: str = _ID
    recipient_agency_id: str = _ID
    recipient_key_id: str = _ID
    fields: list[_FieldEntry] = Field(min_length=1, max_length=200)
    preview: _Preview | None
    created_at: str = Field(max_length=40, pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


assert MANIFEST_TYPE == "safe-referral/manifest" and MANIFEST_VERSION == 2, "the schema follows the SDK"


def check_manifest(manifest: Any) -> None:
    """Raise ``manifest_invalid`` unless ``manifest`` has exactly the protocol's keys and shapes.
    The message names the offending location, never a submitted value."""
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else None
        if first is None or first["type"] == "extra_forbidden":
            where = "a key the protocol does not define"  # its name is the sender's text: not echoed
        else:
            where = ".".join(str(p) for p in first["loc"])  # the schema's own names and list indices
        raise Unprocessable("manifest_invalid", f"The manifest is not protocol version {MANIFEST_VERSION} "
                            f"(at {where[:80]}): only the protocol's keys are accepted.") from None
