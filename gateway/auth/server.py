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

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, InvalidClientError, OAuth2Request, grants
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

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..errors import BadRequest
from ..registry.models import Agency, VettingStatus
from ..registry.service import verified_signing_keys
from .models import UsedAssertion
from .tokens import TokenAuthority

log = logging.getLogger("gateway.auth")
ASSERTION_ALGORITHMS = ["Ed25519", "EdDSA"]


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
        return grant_type == "client_credentials"


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
        return [self._server.token_url]

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
            raise InvalidClientError(description="The client assertion is expired or not for this gateway.") from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and subject must both be the client id.")
        iat = claims.get("iat")
        exp = int(claims["exp"])
        if exp - now > self._server.assertion_max_age_s or (
            isinstance(iat, int) and exp - iat > self._server.assertion_max_age_s
        ):
            raise InvalidClientError(description="The client assertion lives too long.")
        if not self.validate_jti(claims, str(claims["jti"])):
            raise InvalidClientError(description="The client assertion was already used.")

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        return self._server.remember_jti(str(claims["sub"]), jti, int(claims["exp"]))


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """The token endpoint. Stateless apart from the database (jti store, registry)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        tokens: TokenAuthority,
        clock: Clock,
        assertion_max_age_s: int,
    ) -> None:
        super().__init__(scopes_supported=None)
        self.sessions = sessions
        self.tokens = tokens
        self.clock = clock
        self.assertion_max_age_s = assertion_max_age_s
        self.token_url = tokens.issuer.rstrip("/") + "/oauth/token"
        self.register_grant(_ClientCredentials)
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
        with self.sessions() as session, session.begin():
            record(
                session,
                AuditEvent(AuditTag.AUTH_TOKEN_ISSUE, details={"scope": token.get("scope", "")}),
                actor=Actor(agency_id=client.agency_id, role="agency"),
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
            body = {
                "type": f"urn:safe-referral:problem:{error}",
                "title": "Token request refused",
                "status": 401 if error == "invalid_client" else status,
                "detail": str(body.get("error_description") or error),
                "reason": error,
                "error": error,
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
        token, ttl = self.tokens.issue(client.agency_id, scopes, self.clock.now())
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
        with self.sessions() as session, session.begin():
            record(
                session,
                AuditEvent(AuditTag.AUTH_TOKEN_REFUSE, decision="deny", reason=error),
                actor=Actor(role="unauthenticated"),
                at=self.clock.now(),
            )


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
