"""OAuth2 token endpoint: client credentials with ``private_key_jwt`` (RFC 7523) on Authlib.

Authlib has no FastAPI server integration, and its defaults need four overrides for
Ed25519 (documented in shared/reference/deps-probe.md Q6): the request adapter, the
client-assertion decoder (it decodes without ``algorithms=``), the grant's allowed auth
methods, and token generation (done by our :class:`TokenAuthority`). Assertions are
verified against the agency's *verified* Ed25519 keys only; a pending or revoked key
cannot authenticate. Assertion ``jti`` values are stored in the database so a replay is
refused on every replica.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from consent.clock import Clock
from crypto.encoding import b64u_decode
from crypto.keys import ed25519_public_jwk

from ..accounts import StaffAccount
from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..errors import BadRequest
from ..registry.models import Agency, VettingStatus
from ..registry.service import verified_signing_keys
from .models import UsedAssertion
from .refusals import RefusalTally
from .tokens import TokenAuthority

log = logging.getLogger("gateway.auth")
ERROR_DESCRIPTIONS = {
    "invalid_request": "The token request is missing a parameter or repeats one.",
    "invalid_client": "Client authentication failed: send a private_key_jwt client assertion signed with a "
                      "verified Ed25519 key of a vetted agency.",
    "unsupported_grant_type": "Only the client_credentials grant is supported.",
    "unauthorized_client": "This client may not use this grant.",
    "invalid_grant": "The grant is not valid.",
    "invalid_scope": "The requested scope is not valid.",
}
ASSERTION_ALGORITHMS = ["Ed25519", "EdDSA"]
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - a grant type URI
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 - a token type URI
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a token type URI


class AgencyClient(ClientMixin):  # type: ignore[misc]  # NOTE: Authlib is untyped
    """An agency as an OAuth client: authenticates only with private_key_jwt."""

    def __init__(self, agency: Agency) -> None:
        self.agency_id = agency.id
        self.scopes = list(agency.scopes)
        # Only verified keys authenticate. "alg" is dropped so a key serves both the generic
        # "EdDSA" and the fully specified "Ed25519" algorithm names.
        self.jwks = {"keys": [
            {k: v for k, v in ed25519_public_jwk(b64u_decode(key.public_key)).items() if k != "alg"}
            for key in verified_signing_keys(agency)
        ]}

    def get_client_id(self) -> str:
        return self.agency_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        wanted = scope.split()
        return " ".join(s for s in wanted if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # no shared secrets, ever

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "private_key_jwt" and endpoint == "token"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("client_credentials", TOKEN_EXCHANGE)


class _StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, request: Request, form: dict[str, str]) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._form = form
        self._args = dict(request.query_params)
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return self._args


class _PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: GatewayAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=5)
        self._server = server

    def get_audiences(self) -> list[str]:
        # The token endpoint (RFC 7523) or the issuer identifier itself (RFC 7523bis, which makes
        # the issuer the one audience that cannot be confused with another server's endpoint).
        return [self._server.token_url, self._server.tokens.issuer]

    def __call__(self, query_client: Callable[[str], AgencyClient | None], request: Any) -> AgencyClient | None:
        named = request.form.get("client_id")
        assertion = request.form.get("client_assertion")
        if named is not None and assertion:
            try:
                _, claims = self.extract_assertion(assertion)
            except Exception:
                claims = {}
            if claims.get("sub") != named:
                # RFC 7521 section 4.2: a client_id, when sent, must name the assertion's client.
                raise InvalidClientError(description="client_id does not name the client the assertion is for.")
        client: AgencyClient | None = super().__call__(query_client, request)
        return client

    def resolve_client_public_key(self, client: AgencyClient) -> KeySet:
        if not client.jwks["keys"]:
            raise InvalidClientError(description="The client has no verified signing key.")
        return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]  # NOTE: TypedDict vs dict

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="The client assertion is not valid.") from exc
        self.verify_claims(token.claims)
        return dict(token.claims)

    def verify_claims(self, claims: dict[str, Any]) -> None:
        now = int(self._server.clock.now().timestamp())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.leeway,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidClientError(description=(
                f"The client assertion is expired, not yet valid, lacks iss, sub, aud, exp or jti, or is not for "
                f"this gateway (aud must be {self._server.token_url} or {self._server.tokens.issuer}).")) from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and subject must both be the client id.")
        iat = claims.get("iat")
        exp = int(claims["exp"])
        if exp - now > self._server.assertion_max_age_s or (
            isinstance(iat, int) and exp - iat > self._server.assertion_max_age_s
        ):
            raise InvalidClientError(description=(
                f"The client assertion lives too long: exp may be at most {self._server.assertion_max_age_s} s "
                "after iat and after now (sign assertions for a few minutes, not an hour)."))
        if not self.validate_jti(claims, str(claims["jti"])):
            raise InvalidClientError(description="The client assertion was already used.")

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        return self._server.remember_jti(str(claims["sub"]), jti, int(claims["exp"]))


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]


class _TokenExchange(grants.BaseGrant, grants.TokenEndpointMixin):  # type: ignore[misc]
    """RFC 8693: the agency's client (authenticated with private_key_jwt) exchanges a signed-in staff
    member's person token for an access token that acts for that person (``sub`` the person,
    ``act.sub`` the client). The person token must be for this very client, unused, and its account
    active in the client's agency now."""

    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

    def validate_token_request(self) -> None:
        client: AgencyClient = self.authenticate_token_endpoint_client()
        self.request.client = client
        form = self.request.form
        if form.get("subject_token_type") != JWT_TOKEN_TYPE:
            raise InvalidRequestError(description=f"subject_token_type must be {JWT_TOKEN_TYPE}.")
        if form.get("requested_token_type") not in (None, "", ACCESS_TOKEN_TYPE):
            raise InvalidRequestError(description="Only access tokens are issued.")
        if form.get("actor_token"):
            raise InvalidRequestError(description="The actor is the authenticated client; no actor_token.")
        server: GatewayAuthorizationServer = self.server
        now = server.clock.now()
        try:
            subject = server.tokens.verify_person_token(str(form.get("subject_token") or ""), now)
        except ValueError as exc:
            raise InvalidGrantError(description="The person token is not valid.") from exc
        if subject.agency_id != client.agency_id:
            raise InvalidGrantError(description="The person token was issued for another agency's client.")
        if not server.remember_jti("person", subject.jti, subject.expires_at):
            raise InvalidGrantError(description="The person token was already used.")
        with server.sessions() as session:
            account = session.get(StaffAccount, subject.account_id)
            if account is None or not account.usable or account.agency_id != client.agency_id:
                raise InvalidGrantError(description="The person's account is not active in this agency.")
            if account.generation != subject.generation:
                raise InvalidGrantError(description="The person's account was recovered or revoked after this "
                                                    "person token was issued; sign in again.")
        self.request.user = subject.account_id
        self.person_generation = subject.generation
        self.validate_requested_scope()

    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:
        server: GatewayAuthorizationServer = self.server
        token = server.person_access_token(self.request.client, self.request.user, self.person_generation,
                                           self.request.payload.scope)
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """The token endpoint. Stateless apart from the database (jti store, registry)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        tokens: TokenAuthority,
        clock: Clock,
        assertion_max_age_s: int,
        refusals: RefusalTally | None = None,
    ) -> None:
        super().__init__(scopes_supported=None)
        self.refusals = refusals or RefusalTally()
        self.sessions = sessions
        self.tokens = tokens
        self.clock = clock
        self.assertion_max_age_s = assertion_max_age_s
        self.token_url = tokens.issuer.rstrip("/") + "/oauth/token"
        self.register_grant(_ClientCredentials)
        self.register_grant(_TokenExchange)
        self.register_token_generator("default", self._generate_token)
        self.register_client_auth_method("private_key_jwt", _PrivateKeyJWT(self))

    # -- Authlib hooks -------------------------------------------------------------
    def query_client(self, client_id: str) -> AgencyClient | None:
        with self.sessions() as session:
            agency = session.get(Agency, client_id)
            if agency is None or agency.vetting_status != VettingStatus.VETTED:
                return None
            return AgencyClient(agency)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        client: AgencyClient = request.client
        person = request.user if isinstance(getattr(request, "user", None), str) else None
        details = {"scope": token.get("scope", ""), **({"acting_for": person} if person else {})}
        with self.sessions() as session, session.begin():
            record(
                session,
                AuditEvent(AuditTag.AUTH_TOKEN_ISSUE, details=details),
                actor=Actor(agency_id=client.agency_id, role="agency", user=person),
                at=self.clock.now(),
            )

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def handle_response(self, status: int, body: Any, headers: Any) -> JSONResponse:
        hdrs = dict(headers)
        hdrs["Cache-Control"] = "no-store"
        if status >= 400 and isinstance(body, dict):
            # Problem-document shape, keeping the OAuth error fields clients expect.
            error = str(body.get("error", "invalid_request"))
            # RFC 6749 section 5.2: error, and always a human-readable error_description.
            description = str(body.get("error_description") or ERROR_DESCRIPTIONS.get(error, error.replace("_", " ")))
            body = {
                "type": f"urn:safe-referral:problem:{error}",
                "title": "Token request refused",
                "status": 401 if error == "invalid_client" else status,
                "detail": description,
                "reason": error,
                "error": error,
                "error_description": description,
            }
            status = body["status"]
            hdrs["Content-Type"] = "application/problem+json"
            self._audit_refusal(error)
        return JSONResponse(body, status_code=status, headers=hdrs)

    def create_oauth2_request(self, request: tuple[Request, dict[str, str]]) -> _StarletteOAuth2Request:
        return _StarletteOAuth2Request(*request)

    def create_json_request(self, request: Any) -> Any:  # pragma: no cover - not used
        raise NotImplementedError

    # -- ours ----------------------------------------------------------------------
    def _generate_token(
        self, grant_type: str, client: AgencyClient, user: Any = None, scope: str | None = None,
        expires_in: int | None = None, include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        # A client never gets more than its agency may have, whatever it asks for.
        scopes = client.get_allowed_scope(scope).split()
        # The agency's system alone: never a person (a person's token comes from person_access_token).
        token, ttl = self.tokens.issue(client.agency_id, scopes, self.clock.now())
        return {"token_type": "Bearer", "access_token": token, "expires_in": ttl, "scope": " ".join(sorted(scopes))}

    def person_access_token(self, client: AgencyClient, account_id: str, generation: int,
                            scope: str | None) -> dict[str, Any]:
        """The access token the agency's client gets for a person (RFC 8693), carrying the account
        generation the person token was issued in."""
        scopes = client.get_allowed_scope(scope).split()
        token, ttl = self.tokens.issue(client.agency_id, scopes, self.clock.now(), person_id=account_id,
                                       person_generation=generation)
        return {"token_type": "Bearer", "access_token": token, "expires_in": ttl, "scope": " ".join(sorted(scopes))}

    def remember_jti(self, client_id: str, jti: str, exp: int) -> bool:
        """Store ``jti`` for ``client_id``; False if it was seen before (a replay)."""
        now = self.clock.now()
        expires_at = datetime.fromtimestamp(exp, tz=now.tzinfo) + timedelta(seconds=60)
        try:
            with self.sessions() as session, session.begin():
                session.add(UsedAssertion(jti_key=f"{client_id} {jti}"[:200], expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def _audit_refusal(self, error: str) -> None:
        """Counted, not written: :class:`RefusalTally` audits refusals in aggregate."""
        self.refusals.add(error, self.clock.now())


def token_endpoint(server: GatewayAuthorizationServer) -> Callable[[Request], Any]:
    async def create_token(request: Request) -> JSONResponse:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        # Authlib is synchronous and touches the database: keep it off the event loop.
        try:
            result: JSONResponse = await run_in_threadpool(server.create_token_response, (request, fields))
        except InsecureTransportError:
            # Plain http from a non-loopback name: a client reaching a replica past the TLS proxy, or a
            # proxy not named in GATEWAY_TRUSTED_PROXIES (its X-Forwarded-Proto is then not believed).
            await run_in_threadpool(server._audit_refusal, "https_required")
            raise BadRequest("https_required", "The token endpoint answers over https only.") from None
        return result

    return create_token
