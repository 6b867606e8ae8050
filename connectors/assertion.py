"""RFC 7523 ``private_key_jwt`` client assertions, signed with the agency's Ed25519 key."""

from __future__ import annotations

import secrets
import time

from joserfc import jwt
from joserfc.jwk import OKPKey

from crypto.keys import ed25519_private_jwk

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def client_assertion(
    agency_id: str, signing_seed: bytes, token_url: str, *, now: float | None = None, ttl_s: int = 60
) -> str:
    """A single-use assertion (fresh ``jti``) proving the caller holds the agency's signing key."""
    issued = int(now if now is not None else time.time())
    key = OKPKey.import_key(_without_alg(ed25519_private_jwk(signing_seed)))
    claims = {
        "iss": agency_id,
        "sub": agency_id,
        "aud": token_url,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"alg": "Ed25519", "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=["Ed25519"])


def token_request_form(agency_id: str, signing_seed: bytes, token_url: str, *, scope: str | None = None,
                       now: float | None = None) -> dict[str, str]:
    """The form body of a client-credentials token request."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(agency_id, signing_seed, token_url, now=now),
    }
    if scope:
        form["scope"] = scope
    return form


def _without_alg(jwk: dict[str, str]) -> dict[str, str | list[str]]:
    # The JWK names the generic "EdDSA"; we sign with the fully specified "Ed25519" (RFC 9864).
    return {k: v for k, v in jwk.items() if k != "alg"}
