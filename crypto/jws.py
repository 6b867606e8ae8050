"""Compact JWS (RFC 7515) signed with Ed25519 (``alg: EdDSA``, RFC 8037), via joserfc.

Used where a standard token format is wanted (e.g. tokens other systems
verify). Only ``EdDSA`` is ever accepted: the algorithm is pinned by the
verifier, never taken from the token, which rules out the classic confusions
(``alg: none``, or ``HS256`` keyed with the public key).

RFC 9864 deprecates the polymorphic ``EdDSA`` name in favour of ``Ed25519``
and joserfc warns about it (``SecurityWarning``). We keep ``EdDSA`` for
compatibility with today's verifiers and silence that one warning locally.

Only the signature and the ``typ`` header are checked here. Claims such as
``exp``, ``nbf``, ``iss`` and ``aud`` are the caller's to validate.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey

from crypto.canonical import canonical_json, parse_json
from crypto.encoding import b64u_decode
from crypto.errors import InvalidSignature
from crypto.keys import ed25519_private_jwk, ed25519_public_jwk

__all__ = ["ALGORITHM", "sign_jws", "verify_jws"]

ALGORITHM = "EdDSA"
_ALGORITHMS = [ALGORITHM]
# Header parameters we emit and accept. Anything else (crit, b64, jwk, jku,
# x5u, x5c, ...) is refused: those would let the token choose its own key or
# change how the payload is interpreted.
_ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})
_MAX_HEADER_CHARS = 1024


@contextmanager
def _quiet_eddsa_warning() -> Iterator[None]:
    # catch_warnings restores the global filter state on exit, so neither
    # callers nor pytest's "warnings are errors" setting are affected.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*EdDSA.*", category=SecurityWarning)
        yield


def sign_jws(claims: Mapping[str, Any], seed: bytes, *, kid: str, typ: str) -> str:
    """Return a compact JWS over ``canonical_json(claims)``, header ``{"alg": "EdDSA", "kid", "typ"}``.

    ``kid`` should normally be :func:`crypto.keys.jwk_kid` of the signing key's
    public half. Raises :class:`~crypto.errors.InvalidKey` for a malformed seed
    and :class:`TypeError`/:class:`ValueError` for claims that are not JSON.
    """
    if not isinstance(claims, Mapping):
        raise TypeError("claims must be a JSON object (a mapping)")
    if not isinstance(kid, str) or not isinstance(typ, str):
        raise TypeError("kid and typ must be str")
    payload = canonical_json(claims)
    key = OKPKey.import_key(ed25519_private_jwk(seed))  # type: ignore[arg-type]
    header = {"alg": ALGORITHM, "typ": typ, "kid": kid}
    with _quiet_eddsa_warning():
        return jws.serialize_compact(header, payload, key, algorithms=_ALGORITHMS)


def _decode_segment(segment: str) -> Any:
    return parse_json(b64u_decode(segment))


def verify_jws(token: str, public: bytes, *, typ: str | None = None) -> dict[str, Any]:
    """Verify a compact JWS made with the Ed25519 key ``public`` and return its claims.

    Raises :class:`InvalidSignature` for *any* failure: malformed token, an
    ``alg`` other than ``EdDSA`` (including ``none`` and HMAC), an unexpected
    header parameter, a ``typ`` different from the given one (exact match),
    a bad signature, the wrong or a malformed key, or a payload that is not a
    JSON object.
    """
    try:
        if not isinstance(token, str):
            raise ValueError
        parts = token.split(".")
        # The header is parsed before the signature is checked, so bound it
        # (joserfc itself allows 512 bytes of header).
        if len(parts) != 3 or len(parts[0]) > _MAX_HEADER_CHARS:
            raise ValueError
        header = _decode_segment(parts[0])
        # Check the header ourselves before joserfc sees it: the algorithm is
        # pinned here, not negotiated by the token.
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
            raise ValueError
        if not set(header) <= _ALLOWED_HEADER:
            raise ValueError
        if typ is not None and header.get("typ") != typ:
            raise ValueError
        key = OKPKey.import_key(ed25519_public_jwk(public))  # type: ignore[arg-type]
        with _quiet_eddsa_warning():
            verified = jws.deserialize_compact(token, key, algorithms=_ALGORITHMS)
        claims = parse_json(verified.payload)
        if not isinstance(claims, dict):
            raise ValueError
        return claims
    except Exception:
        # Deliberately broad: the contract is "InvalidSignature on any failure",
        # whatever joserfc, cryptography or our own checks raised (including
        # InvalidKey for a malformed public key). The cause is dropped so that
        # error responses cannot tell an attacker which check tripped.
        raise InvalidSignature("JWS verification failed") from None
