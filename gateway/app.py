"""``create_app(settings)``: the one place where the gateway is assembled."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from consent.clock import Clock, SystemClock
from crypto.keys import load_signing_seed

from . import db
from .auth.server import GatewayAuthorizationServer, token_endpoint
from .auth.tokens import TokenAuthority
from .context import GatewayContext
from .errors import GatewayError, ServiceUnavailable
from .http import BodyLimitMiddleware, RequestContextMiddleware, configure_logging, install_error_handlers
from .registry.routes import router as registry_router
from .settings import Settings


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    signing_seed: bytes | None = None,
    policy: Any = None,
) -> GatewayContext:
    """Open the database, load the signing key and the policy engine."""
    if signing_seed is None:
        path = settings.signing_key_path
        if not path.exists():
            raise GatewayError(
                "signing_key_missing",
                f"No gateway signing key at {path}. Run `gateway init` (or `gateway demo`) first.",
            )
        signing_seed = load_signing_seed(path)
    engine = db.make_engine(settings.resolved_database_url)
    sessions = db.make_sessionmaker(engine)
    tokens = TokenAuthority(signing_seed, issuer=settings.issuer, ttl_s=settings.access_token_ttl_s)
    if policy is None:
        from .policy.bundle import PolicyBundle
        from .policy.factory import build_engine

        bundle = PolicyBundle.load(settings.policy_dir)
        policy = build_engine(
            settings.policy_engine, bundle=bundle, opa_url=settings.opa_url or None,
            timeout_s=settings.opa_timeout_s,
        )
    return GatewayContext(
        settings=settings, engine=engine, sessions=sessions, clock=clock or SystemClock(),
        signing_seed=signing_seed, tokens=tokens, policy=policy,
    )


def create_app(settings: Settings | None = None, *, context: GatewayContext | None = None) -> FastAPI:
    """Assemble the gateway. Tests pass a prepared ``context`` (fixed clock, test key)."""
    settings = settings or (context.settings if context else Settings())
    ctx = context or build_context(settings)
    configure_logging(settings.log_level)
    app = FastAPI(
        title="Safe-referral gateway",
        version="0.1.0",
        description="Consent- and policy-checked, end-to-end encrypted referrals between agencies.",
        docs_url="/docs" if settings.show_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.show_docs else None,
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    auth_server = GatewayAuthorizationServer(
        sessions=ctx.sessions, tokens=ctx.tokens, clock=ctx.clock,
        assertion_max_age_s=settings.assertion_max_age_s,
    )
    app.state.auth_server = auth_server
    app.add_api_route("/oauth/token", token_endpoint(auth_server), methods=["POST"], tags=["auth"],
                      summary="OAuth2 client credentials with a private_key_jwt client assertion")

    @app.get("/.well-known/jwks.json", tags=["auth"])
    def jwks() -> dict[str, Any]:
        """The gateway's public signing key: verifies access tokens, receipts and audit checkpoints."""
        return {"keys": [ctx.tokens.public_jwk]}

    @app.get("/.well-known/oauth-authorization-server", tags=["auth"])
    def metadata() -> dict[str, Any]:
        return {
            "issuer": settings.issuer,
            "token_endpoint": auth_server.token_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["Ed25519", "EdDSA"],
            "jwks_uri": settings.issuer.rstrip("/") + "/.well-known/jwks.json",
        }

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """The database and the policy engine answer; 503 otherwise (take the replica out)."""
        checks = {
            "database": db.ping(ctx.engine),
            "policy_engine": bool(ctx.policy is not None and _policy_ready(ctx)),
        }
        if not all(checks.values()):
            exc = ServiceUnavailable("not_ready", "A dependency is not reachable.", extra={"checks": checks})
            return JSONResponse(exc.problem(), status_code=503, media_type="application/problem+json")
        return JSONResponse({"status": "ready", "checks": checks})

    app.include_router(registry_router)

    # Outermost first: the request context wraps the body limit so 413s get headers too.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


def _policy_ready(ctx: GatewayContext) -> bool:
    try:
        return bool(ctx.policy is not None and ctx.policy.ready())
    except Exception:
        return False
