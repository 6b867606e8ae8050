"""The ``gateway`` command: serve, demo, init, db, agency, rules.

Errors end with a non-zero exit and a one-line reason on stderr; long steps say what
they are doing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from consent.clock import SystemClock

from . import db, migrate
from .audit.cli import app as audit_app
from .audit.log import Actor, AuditEvent, record_refusal
from .audit.tags import AuditTag
from .errors import GatewayError
from .registry import service
from .registry.models import AgencyKind, KeyKind
from .settings import Settings

app = typer.Typer(help="Safe-referral gateway: consent-checked, end-to-end encrypted referrals.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
agency_app = typer.Typer(help="The agency registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(agency_app, name="agency")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True)


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    try:
        if data_dir is not None:
            overrides["data_dir"] = data_dir
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code=1)


def _progress(message: str) -> None:
    err.print(f"[dim]…[/dim] {message}", highlight=False)


DataDir = Annotated[Path | None, typer.Option(help="Data directory (default: $GATEWAY_DATA_DIR or ./var).")]


@app.command()
def init(data_dir: DataDir = None) -> None:
    """Create the data directory and signing key, and migrate the database."""
    from .setup import init_data_dir

    settings = _settings(data_dir)
    init_data_dir(settings, _progress)
    out.print(f"ready: {settings.data_dir}")


def serve_settings(host: str, port: int, data_dir: Path | None) -> Settings:
    """Settings for ``serve``: the issuer must be given (``GATEWAY_ISSUER``).

    Tokens and client assertions name it, and checkpoints are signed under it: a replica that
    named itself by its own host and port would refuse the other replicas' tokens and sign
    checkpoints under an origin nobody verifies against. Only ``gateway demo`` picks a default.
    """
    if not os.environ.get("GATEWAY_ISSUER"):
        _fail("set GATEWAY_ISSUER to the gateway's public base URL (the same on every replica), "
              f"e.g. GATEWAY_ISSUER=http://{host}:{port} when nothing is in front of it")
    return _settings(data_dir)


def _run(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from .app import create_app

    try:
        application = create_app(settings)
    except GatewayError as exc:
        _fail(exc.detail)
    _progress(f"serving on http://{host}:{port} as {settings.issuer} "
              f"(data: {settings.data_dir}, policy: {settings.policy_engine})")
    # X-Forwarded-For/-Proto are believed only from the proxies named in GATEWAY_TRUSTED_PROXIES
    # (none by default): behind Caddy the scheme is https and the client is the real visitor.
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False,
                proxy_headers=bool(settings.trusted_proxy_list),
                forwarded_allow_ips=settings.trusted_proxy_list or "")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: DataDir = None,
) -> None:
    """Serve the API, the person's portal and the DPO console (GATEWAY_ISSUER is required)."""
    _run(serve_settings(host, port, data_dir), host, port)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database and keys.")] = Path("var/demo"),
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only set up; do not start the server.")] = False,
) -> None:
    """Set up a demonstration registry (IOM, UNHCR, police, shelter, clinic, advocate, a DPO) and serve it."""
    from .setup import init_data_dir, seed_demo

    settings = Settings(data_dir=data_dir, issuer=f"http://{host}:{port}")
    init_data_dir(settings, _progress)
    creds = seed_demo(settings, progress=_progress)
    out.print(f"demo registry ready in {data_dir}; agencies' private keys in {data_dir}/agency-keys/")
    out.print(f"DPO console credentials: {creds}")
    if not no_serve:
        _run(settings if os.environ.get("GATEWAY_ISSUER") is None else _settings(data_dir), host, port)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply every pending migration."""
    settings = _settings(data_dir)
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    _progress("applying database migrations")
    migrate.upgrade(settings.resolved_database_url)
    out.print(f"database at revision {migrate.current_revision(settings.resolved_database_url)}")


def _session(settings: Settings):  # type: ignore[no-untyped-def]
    engine = db.make_engine(settings.resolved_database_url)
    return engine, db.make_sessionmaker(engine)


OPERATOR = Actor(role="operator", user="cli")


@agency_app.command("register")
def agency_register(
    agency_id: Annotated[str, typer.Option("--id", help="Short stable id, e.g. shelter-north.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    kind: Annotated[AgencyKind, typer.Option(help="What the agency is.")],
    jurisdiction: Annotated[str, typer.Option(help="ISO 3166 alpha-2 country code.")],
    mandated_reporter: Annotated[bool, typer.Option(help="Must report crimes by law.")] = False,
    duty: Annotated[list[str] | None, typer.Option(help="Statutory duty to share with (repeat).")] = None,
    vetted: Annotated[bool, typer.Option(help="Vetting completed.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Register an agency."""
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session, session.begin():
            service.register_agency(
                session,
                service.AgencySpec(id=agency_id, name=name, kind=kind, jurisdiction=jurisdiction,
                                   mandated_reporter=mandated_reporter, statutory_duties=tuple(duty or ()),
                                   vetted=vetted),
                actor=OPERATOR, now=SystemClock().now(),
            )
    except GatewayError as exc:
        _fail(exc.detail)
    finally:
        engine.dispose()
    out.print(f"registered {agency_id}")


@agency_app.command("list")
def agency_list(data_dir: DataDir = None) -> None:
    """List registered agencies and the status of their keys."""
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    table = Table("id", "name", "kind", "jurisdiction", "vetting", "keys")
    with sessions() as session:
        for agency in service.list_agencies(session):
            keys = ", ".join(f"{k.kind}:{k.status}" for k in agency.keys) or "-"
            table.add_row(agency.id, agency.name, agency.kind, agency.jurisdiction, agency.vetting_status, keys)
    engine.dispose()
    out.print(table)


@agency_app.command("show")
def agency_show(agency_id: str, data_dir: DataDir = None) -> None:
    """Show one agency with its keys, fingerprints and endpoints."""
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session:
            agency = service.get_agency(session, agency_id)
            out.print(f"[bold]{agency.name}[/bold] ({agency.id}) kind={agency.kind} "
                      f"jurisdiction={agency.jurisdiction} vetting={agency.vetting_status} "
                      f"mandated_reporter={agency.mandated_reporter}", highlight=False)
            table = Table("key id", "kind", "status", "fingerprint")
            for k in agency.keys:
                table.add_row(k.id, k.kind, k.status, k.fingerprint)
            out.print(table)
            for e in agency.endpoints:
                out.print(f"endpoint {e.id} {e.status} {e.url} fingerprint {e.fingerprint}", highlight=False)
    except GatewayError as exc:
        _fail(exc.detail)
    finally:
        engine.dispose()


@agency_app.command("add-key")
def agency_add_key(
    agency_id: str,
    kind: Annotated[KeyKind, typer.Option(help="x25519 (encryption) or ed25519 (signing).")],
    public_key: Annotated[str, typer.Option(help="Raw 32-byte public key, base64url.")],
    data_dir: DataDir = None,
) -> None:
    """Add a public key (pending until verified)."""
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session, session.begin():
            key = service.add_key(session, agency_id, kind, public_key, actor=OPERATOR, now=SystemClock().now())
            out.print(f"added {key.id} (pending). Fingerprint to read back: {key.fingerprint}")
    except GatewayError as exc:
        _fail(exc.detail)
    finally:
        engine.dispose()


@agency_app.command("verify-key")
def agency_verify_key(
    agency_id: str,
    key_id: str,
    fingerprint: Annotated[str | None, typer.Option(help="The fingerprint the agency read back to you.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Verify a pending key with the fingerprint read back over a separate channel."""
    if fingerprint is None:
        fingerprint = typer.prompt("Fingerprint read back by the agency (over the phone)")
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session, session.begin():
            service.verify_key(session, agency_id, key_id, fingerprint, actor=OPERATOR, now=SystemClock().now())
    except GatewayError as exc:
        if exc.reason == "fingerprint_mismatch":
            # The refused attempt is audited in its own transaction; the verify itself changed nothing.
            record_refusal(sessions, AuditEvent(AuditTag.REGISTRY_KEY_VERIFY_FAIL, decision="deny",
                                                reason=exc.reason,
                                                details={"agency_id": agency_id, "key_id": key_id}),
                           actor=OPERATOR, at=SystemClock().now())
        _fail(exc.detail)
    finally:
        engine.dispose()
    out.print(f"verified {key_id}")


@agency_app.command("revoke-key")
def agency_revoke_key(
    agency_id: str,
    key_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key at once; nothing is addressed to it again."""
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session, session.begin():
            service.revoke_key(session, agency_id, key_id, reason, actor=OPERATOR, now=SystemClock().now())
    except GatewayError as exc:
        _fail(exc.detail)
    finally:
        engine.dispose()
    out.print(f"revoked {key_id}")


@app.command("nrm-timers")
def nrm_timers(data_dir: DataDir = None) -> None:
    """Check the NRM deadlines now (S37, S38, CH14) and raise the alerts that are due (idempotent;
    the server does this by itself every ``GATEWAY_SCHEDULED_JOBS_INTERVAL_S``)."""
    from datetime import UTC, datetime

    from .nrm.service import run_timers

    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        raised = run_timers(sessions, datetime.now(UTC))
    finally:
        engine.dispose()
    for alert in raised:
        out.print(f"{alert['kind']}  {alert['subject_id']}  rule {alert['rule']}  due {alert['due_at'].isoformat()}  "
                  f"notified {', '.join(alert['notified']) or '-'}")
    out.print(f"{len(raised)} alert(s) raised")


@app.command()
def rules(
    repo: Annotated[Path, typer.Option(help="Repository root.")] = Path("."),
) -> None:
    """Print rule -> policy rule -> tests; exit non-zero when an implemented rule has no test."""
    from .rules import main_check

    raise typer.Exit(code=main_check(repo))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
