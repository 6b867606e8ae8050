"""Access tokens: RFC 9068 ``at+jwt``, Ed25519-signed by the gateway, five minutes at most."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from crypto.keys import ed25519_private_jwk, ed25519_public_jwk, signing_public_key

from ..errors import Unauthenticated

ALGORITHMS = ["Ed25519"]
TOKEN_TYPE = "at+jwt"  # noqa: S105 - the RFC 9068 media type
PERSON_TOKEN_TYPE = "person+jwt"  # noqa: S105 - a media type
PERSON_TOKEN_TTL_S = 120
"""A person token is exchanged within two minutes of signing in for it, once."""
SIGNATURE_MEMO_SIZE = 4096
"""Tokens whose signature this authority already checked (a pure function of the token's bytes
and the key; every claim, lifetime included, is still validated on every request)."""


@dataclass(frozen=True)
class TokenClaims:
    """What an access token proves: which agency, with which scopes, until when."""

    agency_id: str
    scopes: frozenset[str]
    jti: str
    expires_at: int
    person_id: str | None = None
    """The staff account the agency's client acts for (RFC 8693 ``sub`` with ``act``), if any."""
    person_generation: int = 0
    """The person's account generation when the token was issued (``gen``; 0 when absent): a recovery
    or revocation since then refuses the token on the next request."""


@dataclass(frozen=True)
class SubjectClaims:
    """What a person token proves: which staff account, for which agency's client, once."""

    account_id: str
    agency_id: str
    jti: str
    expires_at: int
    generation: int = 0
    """The account's generation at sign-in (``gen``; 0 when absent)."""


class TokenAuthority:
    """Issues and verifies access tokens with the gateway's own signing key."""

    def __init__(self, signing_seed: bytes, *, issuer: str, ttl_s: int) -> None:
        self._private = OKPKey.import_key(_without_alg(ed25519_private_jwk(signing_seed)))
        self.public_jwk = ed25519_public_jwk(signing_public_key(signing_seed))
        self._public = OKPKey.import_key(_without_alg(self.public_jwk))
        self.kid = str(self.public_jwk["kid"])
        self.issuer = issuer
        self.audience = issuer.rstrip("/") + "/v1"
        self.ttl_s = ttl_s
        self._signed: dict[str, dict[str, Any]] = {}
        self._signed_lock = threading.Lock()

    def issue(self, agency_id: str, scopes: list[str], now: datetime, *,
              person_id: str | None = None, person_generation: int = 0) -> tuple[str, int]:
        """Return (token, expires_in seconds). With ``person_id``, the token is the agency's client
        acting for that staff member (RFC 8693 §4.1: ``sub`` is the person, ``act`` the client)."""
        iat = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": person_id or agency_id,
            "client_id": agency_id,
            "aud": self.audience,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.ttl_s,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(sorted(scopes)),
        }
        if person_id is not None:
            claims["act"] = {"sub": agency_id}
            claims["gen"] = person_generation
        header = {"alg": "Ed25519", "typ": TOKEN_TYPE, "kid": self.kid}
        return jwt.encode(header, claims, self._private, algorithms=ALGORITHMS), self.ttl_s

    # -- person tokens (RFC 8693 subject tokens) -------------------------------------------

    def issue_person_token(self, account_id: str, agency_id: str, now: datetime,
                           generation: int = 0) -> tuple[str, int]:
        """A short-lived token a signed-in staff member hands to their agency's system. It is
        audience-bound to the token endpoint and to the agency's client (``azp``), single use, and
        carries the account's ``generation`` (a recovery or revocation since then refuses it)."""
        iat = int(now.timestamp())
        claims = {"iss": self.issuer, "sub": account_id, "aud": self.token_url, "azp": agency_id, "iat": iat,
                  "nbf": iat, "exp": iat + PERSON_TOKEN_TTL_S, "jti": secrets.token_urlsafe(16), "gen": generation}
        header = {"alg": "Ed25519", "typ": PERSON_TOKEN_TYPE, "kid": self.kid}
        return jwt.encode(header, claims, self._private, algorithms=ALGORITHMS), PERSON_TOKEN_TTL_S

    @property
    def token_url(self) -> str:
        return self.issuer.rstrip("/") + "/oauth/token"

    def verify_person_token(self, token: str, now: datetime) -> SubjectClaims:
        """Signature, type, issuer, audience, lifetime; raises ``ValueError`` on any failure."""
        try:
            decoded = jwt.decode(token, self._public, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise ValueError("not a person token") from exc
        if decoded.header.get("typ") != PERSON_TOKEN_TYPE:
            raise ValueError("not a person token")
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()), leeway=5, iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.token_url}, exp={"essential": True}, sub={"essential": True},
            jti={"essential": True}, azp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise ValueError("person token expired or not for this gateway") from exc
        if int(claims["exp"]) - int(claims.get("iat", 0)) > PERSON_TOKEN_TTL_S:
            raise ValueError("person token lives too long")
        return SubjectClaims(account_id=str(claims["sub"]), agency_id=str(claims["azp"]), jti=str(claims["jti"]),
                             expires_at=int(claims["exp"]), generation=_generation(claims))

    def verify(self, token: str, now: datetime) -> TokenClaims:
        """Verify signature, type, issuer, audience and lifetime; any failure is a 401."""
        claims = self._signed.get(token)
        if claims is None:
            claims = self._check_signature(token)
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=5,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            reason = "token_expired" if "expired" in str(exc).lower() else "invalid_token"
            raise Unauthenticated(reason, "The access token is expired or not for this gateway.") from exc
        if int(claims["exp"]) - int(claims.get("iat", 0)) > self.ttl_s:
            raise Unauthenticated("invalid_token", "Token lifetime exceeds the gateway's limit.")
        self._remember(token, claims)
        act = claims.get("act")
        actor_sub = act.get("sub") if isinstance(act, dict) else None
        acting = isinstance(actor_sub, str)
        agency_id = str(actor_sub) if acting else str(claims["sub"])
        if acting and claims.get("client_id") != agency_id:
            raise Unauthenticated("invalid_token", "The acting client does not match the token's client.")
        return TokenClaims(
            agency_id=agency_id,
            scopes=frozenset(str(claims.get("scope", "")).split()),
            jti=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            person_id=str(claims["sub"]) if acting else None,
            person_generation=_generation(claims),
        )

    def _check_signature(self, token: str) -> dict[str, Any]:
        """The claims of ``token`` if its signature (ours) and type are right; 401 otherwise."""
        try:
            decoded = jwt.decode(token, self._public, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated("invalid_token", "The access token is not valid.") from exc
        if decoded.header.get("typ") != TOKEN_TYPE:
            raise Unauthenticated("invalid_token", "Not an access token.")
        claims: dict[str, Any] = decoded.claims
        return claims

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        """Skip the signature check the next time this exact token comes (it expires in minutes)."""
        if token in self._signed:
            return
        with self._signed_lock:
            while len(self._signed) >= SIGNATURE_MEMO_SIZE:
                del self._signed[next(iter(self._signed))]
            self._signed[token] = claims


def _generation(claims: dict[str, Any]) -> int:
    gen = claims.get("gen", 0)
    return gen if isinstance(gen, int) and not isinstance(gen, bool) else -1


def _without_alg(jwk: dict[str, str]) -> dict[str, str | list[str]]:
    # The JWK names the generic "EdDSA"; we sign with the fully specified "Ed25519" (RFC 9864).
    return {k: v for k, v in jwk.items() if k != "alg"}
