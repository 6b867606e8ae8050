"""``create_app(settings)``: the one place where the gateway is assembled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from consent.clock import Clock, SystemClock
from crypto.keys import load_signing_seed

from . import db
from .api_docs import install_docs
from .audit.checkpoints import periodic_checkpoints
from .audit.gossip import GossipMiddleware
from .audit.notes import load_or_create_checkpoint_seed, parse_witnesses
from .audit.routes import router as audit_router
from .audit.transparency import router as transparency_router
from .auth.server import GatewayAuthorizationServer, token_endpoint
from .auth.tokens import TokenAuthority
from .consent_api import consents_router, subjects_router
from .console.consent_page import router as console_consent_router
from .console.insight import router as console_insight_router
from .console.routes import router as console_router
from .context import GatewayContext
from .errors import GatewayError, ServiceUnavailable
from .exceptions.routes import children_router
from .exceptions.routes import router as exceptions_router
from .exchange.routes import router as exchange_router
from .exchange.worker import DeliveryWorker
from .http import BodyLimitMiddleware, RequestContextMiddleware, configure_logging, install_error_handlers
from .keyring import KeyRing
from .linkage.console import router as linkage_console_router
from .linkage.routes import router as linkage_router
from .openapi import install_openapi
from .outage import DatabaseOutageMiddleware
from .policy.readiness import PolicyReadiness
from .policy_bundle_route import router as policy_bundle_router
from .portal import api as portal_api
from .portal import routes as portal_routes
from .portal import staff as portal_staff
from .registry.key_routes import router as key_router
from .registry.routes import router as registry_router
from .requests.routes import router as information_requests_router
from .responses import AuthorizationServerOut, HealthOut, JwksOut, ReadinessOut
from .retention_console import router as retention_console_router
from .retention_routes import router as retention_router
from .scheduler import ScheduledJobs, token_refusals
from .settings import PACKAGE_ROOT, Settings
from .staff import api as staff_api
from .staff import routes as staff_routes
from .statistics.api import router as statistics_api_router
from .statistics.console import router as statistics_console_router
from .workspace.routes import router as workspace_router


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    signing_seed: bytes | None = None,
    policy: Any = None,
    checkpoint_seed: bytes | None = None,
    keyring: KeyRing | None = None,
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
    if checkpoint_seed is None:
        try:
            # Outside production a missing checkpoint key is made on first start (tests, fresh checkouts);
            # production needs the one `gateway init` made, or witnesses would see a new key.
            checkpoint_seed = load_or_create_checkpoint_seed(settings.checkpoint_key_path,
                                                             create=settings.env != "production")
        except FileNotFoundError:
            raise GatewayError("checkpoint_key_missing",
                               f"No checkpoint key at {settings.checkpoint_key_path}. Run `gateway init`.") from None
    if keyring is None:
        try:
            keyring = KeyRing.load_or_create(settings.keyring_path, create=settings.env != "production")
        except FileNotFoundError:
            raise GatewayError("key_ring_missing",
                               f"No key ring at {settings.keyring_path}. Run `gateway init`.") from None
    try:
        parse_witnesses(settings.witnesses, settings.witnesses_path)
    except ValueError as exc:
        raise GatewayError("bad_witness_key", f"A configured witness key is not valid: {exc}.") from None
    engine = db.make_engine(settings.resolved_database_url)
    sessions = db.make_sessionmaker(engine)
    tokens = TokenAuthority(signing_seed, issuer=settings.issuer, ttl_s=settings.access_token_ttl_s)
    extras: dict[str, Any] = {}
    if policy is None:
        from .policy.factory import build_engine
        from .policy.provenance import trusted_policy
        from .policy.signed import PolicyBundleError

        try:  # only a bundle whose signature verifies is ever used (fail closed, with the reason)
            signed = trusted_policy(settings)
        except PolicyBundleError as exc:
            raise GatewayError(exc.reason, f"Policy bundle refused ({exc.reason}): {exc.detail}.") from None
        extras["signed_policy"] = signed
        policy = build_engine(
            settings.policy_engine, bundle=signed.policy, opa_url=settings.opa_url or None,
            timeout_s=settings.opa_timeout_s, token=settings.opa_token or None,
            pulled=settings.policy_engine == "opa" and settings.opa_pulls_bundle,
        )
        if not getattr(policy, "pulls_bundle", False):
            _sync_remote_policy(policy)
    return GatewayContext(
        settings=settings, engine=engine, sessions=sessions, clock=clock or SystemClock(),
        signing_seed=signing_seed, tokens=tokens, policy=policy, checkpoint_seed=checkpoint_seed,
        keyring=keyring, extras=extras,
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
        docs_url=None,  # served by gateway.api_docs, without a CDN
        redoc_url=None,
        openapi_url="/openapi.json" if settings.show_docs else None,
        lifespan=_lifespan(ctx),
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    auth_server = GatewayAuthorizationServer(
        sessions=ctx.sessions, tokens=ctx.tokens, clock=ctx.clock,
        assertion_max_age_s=settings.assertion_max_age_s,
        refusals=token_refusals(ctx),
    )
    app.state.auth_server = auth_server
    app.add_api_route("/oauth/token", token_endpoint(auth_server), methods=["POST"], tags=["auth"],
                      summary="OAuth2 client credentials with a private_key_jwt client assertion; RFC 8693 "
                              "token exchange of a signed-in person's token (acting for that person)")

    @app.get("/.well-known/jwks.json", tags=["auth"], response_model=JwksOut)
    def jwks() -> dict[str, Any]:
        """The gateway's public keys, one per purpose (tokens; consent receipts and webhook pushes, by ``kid``)."""
        return {"keys": [ctx.tokens.public_jwk, *(ctx.keyring.jwks() if ctx.keyring else [])]}

    @app.get("/.well-known/oauth-authorization-server", tags=["auth"], response_model=AuthorizationServerOut)
    def metadata() -> dict[str, Any]:
        return {
            "issuer": settings.issuer,
            "token_endpoint": auth_server.token_url,
            "grant_types_supported": ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["Ed25519", "EdDSA"],
            "jwks_uri": settings.issuer.rstrip("/") + "/.well-known/jwks.json",
        }

    @app.get("/healthz", tags=["operations"], response_model=HealthOut)
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    policy_readiness = PolicyReadiness(lambda: ctx.policy)
    app.state.policy_readiness = policy_readiness

    @app.get("/readyz", tags=["operations"], response_model=ReadinessOut)
    def readyz() -> JSONResponse:
        """The database and the policy engine answer; 503 otherwise (take the replica out). Cheap: the
        policy check asks OPA one small question and re-publishes in the background (gateway/policy/readiness.py)."""
        checks = {
            "database": db.ping(ctx.engine),
            "policy_engine": policy_readiness.ready(),
        }
        if not all(checks.values()):
            exc = ServiceUnavailable("not_ready", "A dependency is not reachable.", extra={"checks": checks})
            return JSONResponse(exc.problem(), status_code=503, media_type="application/problem+json")
        return JSONResponse({"status": "ready", "checks": checks})

    # Routes are matched in this order, router by router: the exchange and the registry, which
    # carry the traffic, come first (no path of theirs overlaps another router's).
    app.include_router(exchange_router)
    app.include_router(retention_router)
    app.include_router(key_router)
    app.include_router(registry_router)
    app.include_router(audit_router)
    app.include_router(statistics_console_router)  # before the console's own paths
    app.include_router(transparency_router)
    app.include_router(policy_bundle_router)
    app.include_router(console_router)
    app.include_router(linkage_console_router)
    app.include_router(retention_console_router)
    app.include_router(console_insight_router)
    app.include_router(console_consent_router)
    app.mount("/static", StaticFiles(directory=PACKAGE_ROOT / "static"), name="static")
    app.include_router(subjects_router)
    app.include_router(consents_router)
    app.include_router(exceptions_router)
    app.include_router(children_router)
    app.include_router(information_requests_router)
    app.include_router(portal_api.router)
    app.include_router(portal_routes.router)
    app.include_router(portal_staff.router)
    app.include_router(statistics_api_router)
    app.include_router(linkage_router)
    app.include_router(staff_api.router)
    app.include_router(staff_routes.router)
    app.include_router(workspace_router)
    if settings.show_docs:
        install_docs(app, app.title)
        install_openapi(app)

    # Outermost first: the request context wraps the body limit so 413s get headers too.
    app.add_middleware(GossipMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(DatabaseOutageMiddleware)  # a database outage anywhere inside is a 503, not a 500
    app.add_middleware(RequestContextMiddleware)
    return app


def _lifespan(ctx: GatewayContext) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Background work for the app's lifetime: signed audit checkpoints at a fixed interval, and
    (unless switched off) webhook pushes, ciphertext purges, NRM deadlines and consent expiries."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = DeliveryWorker(ctx) if ctx.settings.background_worker else None
        jobs = ScheduledJobs(ctx) if ctx.settings.background_worker else None
        for thread in (worker, jobs):
            if thread is not None:
                thread.start()
        try:
            async with periodic_checkpoints(ctx.sessions, ctx.signing_seed, origin=ctx.settings.issuer,
                                            interval_s=ctx.settings.audit_checkpoint_interval_s,
                                            now=ctx.clock.now, signer=ctx.note_signer()):
                yield
        finally:
            for thread in (jobs, worker):
                if thread is not None:
                    thread.stop()

    return lifespan


def _sync_remote_policy(policy: Any) -> None:
    """Publish this replica's policy bundle to a remote OPA (idempotent; every replica may do it).

    A failure is not fatal: the gateway starts, ``/readyz`` reports the policy engine as not
    ready, and every decision is a deny until OPA holds this bundle version.
    """
    publish = getattr(policy, "publish", None)
    if publish is None:
        return
    try:
        publish()
    except Exception as exc:
        logging.getLogger("gateway.policy").warning(
            "policy bundle not published", extra={"error_type": type(exc).__name__})
