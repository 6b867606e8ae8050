"""The ``gateway`` command: serve, demo, init, db, agency, rules.

Errors end with a non-zero exit and a one-line reason on stderr; long steps say what
they are doing.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from consent.clock import SystemClock

from . import db, migrate
from .audit.cli import app as audit_app
from .audit.log import Actor, AuditEvent, record_refusal
from .audit.tags import AuditTag
from .errors import GatewayError
from .policy.cli import app as policy_app
from .registry import service
from .registry.models import AgencyKind, KeyKind
from .registry.schemas import KeyOut
from .settings import Settings
from .store_check import StoreUnavailable, require_store

app = typer.Typer(help="Safe-referral gateway: consent-checked, end-to-end encrypted referrals.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
agency_app = typer.Typer(help="The agency registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(agency_app, name="agency")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")

out = Console()
err = Console(stderr=True, soft_wrap=True)


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
        require_store(settings)
    except StoreUnavailable as exc:
        _fail(str(exc))
    if settings.env == "production":
        _require_runtime_role(settings)
    sock = _bind(host, port)
    try:
        application = create_app(settings)
    except GatewayError as exc:
        sock.close()
        _fail(exc.detail)
    # X-Forwarded-For/-Proto are believed only from the proxies named in GATEWAY_TRUSTED_PROXIES
    # (none by default): behind Caddy the scheme is https and the client is the real visitor
    # (gateway.web.client_address applies the same list to the address it throttles by).
    trusted = settings.trusted_proxy_list
    config = uvicorn.Config(application, host=host, port=port, log_level="warning", access_log=False,
                            proxy_headers=bool(trusted), forwarded_allow_ips=trusted or "")
    _progress(f"serving on http://{host}:{port} as {settings.issuer} "
              f"(data: {settings.data_dir}, policy: {settings.policy_engine})")
    uvicorn.Server(config).run(sockets=[sock])


def _require_runtime_role(settings: Settings) -> None:
    """A production replica that could rewrite the audit log (the owner, a superuser) refuses to start."""
    from .runtime_role import runtime_role_problem

    engine = db.make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            problem = runtime_role_problem(conn)
    finally:
        engine.dispose()
    if problem is not None:
        _fail(problem)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: DataDir = None,
) -> None:
    """Serve the API, the person's portal and the DPO console (GATEWAY_ISSUER is required)."""
    _run(serve_settings(host, port, data_dir), host, port)


def _bind(host: str, port: int) -> socket.socket:
    """Take the port before saying "serving on": a busy port is refused in one line, not after."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _fail(f"cannot resolve --host {host}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another server there? try --port)")
    sock.set_inheritable(True)
    return sock


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database and keys.")] = Path("var/demo"),
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only set up; do not start the server.")] = False,
) -> None:
    """Set up a demonstration registry (IOM, UNHCR, police, shelter, clinic, advocate, a DPO) and serve it."""
    from crypto import note as notes
    from crypto.keys import load_signing_seed

    from .demo_witness import DemoWitness, set_up_demo_witness
    from .setup import init_data_dir, seed_demo

    settings = Settings(data_dir=data_dir, issuer=f"http://{host}:{port}")
    init_data_dir(settings, _progress)
    creds = seed_demo(settings, progress=_progress)
    witness_key = set_up_demo_witness(settings)
    log_key = notes.signer_verifier(settings.log_origin, load_signing_seed(settings.checkpoint_key_path))
    (data_dir / "checkpoint-key.txt").write_text(log_key.vkey() + "\n")
    out.print(f"checkpoint key: {log_key.vkey()}\nwitness (monitoring body): {witness_key.vkey()}", highlight=False,
              soft_wrap=True)
    _print_demo(settings, data_dir, creds)
    if not no_serve:
        witness = DemoWitness(settings, f"http://{host}:{port}", log_key)
        witness.start()
        try:
            _run(settings if os.environ.get("GATEWAY_ISSUER") is None else _settings(data_dir), host, port)
        finally:
            witness.stop()


def _print_demo(settings: Settings, data_dir: Path, creds: Path) -> None:
    """Everything a newcomer needs, on the terminal: agencies, a person's code and PIN, the DPO's
    sign-in with a QR code for the authenticator app (demo only: real credentials are never printed)."""
    import pyotp
    import segno

    from .setup import PENDING_DEMO, read_credentials

    url = settings.issuer
    engine, sessions = _session(settings)
    with sessions() as session:
        agencies = service.list_agencies(session)
        rows = [(a.id, a.name, ", ".join(sorted({k.status for k in KeyOut.of_all(a)})) or "-") for a in agencies]
    engine.dispose()
    echo = typer.echo
    echo(f"\nDemo registry in {data_dir} (each agency's private keys in {data_dir}/agency-keys/).")
    echo("Agencies:")
    for agency_id, name, status in rows:
        echo(f"  {agency_id:<15} keys {status:<9} {name}")
    echo(f"\n{PENDING_DEMO} has not enrolled its keys yet. As the operator, issue it a one-time secret (hand it "
         "over out of band); as the clinic, enrol its keys with it (its signing key binds both):")
    echo(f"  gateway agency enrolment-secret {PENDING_DEMO} --data-dir {data_dir}")
    echo(f"  python -m connectors.cli enrol {PENDING_DEMO} --secret SECRET "
         f"--key-file {data_dir}/agency-keys/{PENDING_DEMO}.json --url {url}")
    found = read_credentials(creds)
    person = found.get("person", {})
    if person:
        echo(f"\nA person's portal, {url}/p/ :")
        echo(f"  access code: {person.get('access code')}")
        echo(f"  PIN:         {person.get('pin')}")
    dpo = found.get("DPO", {})
    if dpo:
        echo(f"\nThe DPO console, {url}/console :")
        echo(f"  username:    {dpo.get('username')}")
        echo(f"  password:    {dpo.get('password')}")
        echo(f"  TOTP secret: {dpo.get('totp secret')}  (or scan the code below; `python3 -c \"import pyotp; "
             f"print(pyotp.TOTP('{dpo.get('totp secret')}').now())\"` prints the current code)")
        uri = pyotp.TOTP(dpo.get("totp secret", "")).provisioning_uri(name=dpo.get("username", "dpo"),
                                                                      issuer_name="safe-referral demo")
        segno.make(uri, error="m").terminal(compact=True)
    echo(f"\nStaff accounts of the advocacy service (caseworker, supervisor, administrator) and the consoles' "
         f"users sign in at {url}/staff (passkeys need a localhost address); each account is in {creds}.")
    echo(f"(kept in {creds}, mode 0600; demo only)\n")


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDir = None,
    runtime_url_file: Annotated[Path | None, typer.Option(
        help="PostgreSQL: a file holding the serving replicas' database URL; after migrating (as the owner), "
             "its login role is created or updated as a member of gateway_app, which cannot rewrite the "
             "audit log.")] = None,
) -> None:
    """Apply every pending migration."""
    settings = _settings(data_dir)
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    _progress("applying database migrations")
    migrate.upgrade(settings.resolved_database_url)
    out.print(f"database at revision {migrate.current_revision(settings.resolved_database_url)}")
    if runtime_url_file is not None:
        from .runtime_role import RuntimeRoleError, ensure_runtime_role

        try:
            runtime_url = runtime_url_file.read_text()
        except OSError as exc:
            _fail(f"cannot read --runtime-url-file {runtime_url_file}: {exc.strerror or exc}")
        engine = db.make_engine(settings.resolved_database_url)
        try:
            with engine.connect() as conn, conn.begin():
                role = ensure_runtime_role(conn, runtime_url)
        except RuntimeRoleError as exc:
            _fail(str(exc))
        finally:
            engine.dispose()
        out.print(f"replicas connect as {role} (a member of gateway_app: no UPDATE, DELETE or TRUNCATE of the "
                  "audit and key tables)")


def _session(settings: Settings):  # type: ignore[no-untyped-def]
    try:
        require_store(settings)
    except StoreUnavailable as exc:
        _fail(str(exc))
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
    vetted: Annotated[bool, typer.Option(help="Vetting completed (needs --confidentiality-policy).")] = False,
    confidentiality_policy: Annotated[str | None, typer.Option(
        help="Version of the confidentiality policy the agency attests to (required with --vetted).")] = None,
    represents_state: Annotated[str | None, typer.Option(
        help="ISO 3166 alpha-2 of the state it acts for (embassy, consulate, police liaison).")] = None,
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
                                   vetted=vetted, represents_state=represents_state,
                                   confidentiality_policy_version=confidentiality_policy),
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
    rows = [("id", "kind", "jurisdiction", "vetting", "keys", "name")]
    with sessions() as session:
        for agency in service.list_agencies(session):
            keys = ", ".join(f"{k.kind}:{k.status}" for k in KeyOut.of_all(agency)) or "-"
            rows.append((agency.id, str(agency.kind), agency.jurisdiction, str(agency.vetting_status), keys,
                         agency.name))
    engine.dispose()
    # Plain columns, never wrapped or cut (ids are typed back into other commands).
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5])


@agency_app.command("show")
def agency_show(agency_id: str, data_dir: DataDir = None) -> None:
    """Show one agency with its keys, fingerprints and endpoints."""
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session:
            agency = service.get_agency(session, agency_id)
            typer.echo(f"{agency.name} ({agency.id}) kind={agency.kind} jurisdiction={agency.jurisdiction} "
                       f"vetting={agency.vetting_status} mandated_reporter={agency.mandated_reporter}")
            # Plain lines, never a table: the fingerprint is read over the phone and must not be cut
            # or wrapped, whatever the terminal's width (or a pipe's).
            for k in KeyOut.of_all(agency):  # "verified" only when bound by the agency itself
                typer.echo(f"key {k.id}  {k.kind}  {k.status}\n  fingerprint: {k.fingerprint}")
            for e in agency.endpoints:
                typer.echo(f"endpoint {e.id}  {e.status}  {e.url}\n  fingerprint: {e.fingerprint}")
    except GatewayError as exc:
        _fail(exc.detail)
    finally:
        engine.dispose()


@agency_app.command("enrolment-secret")
def agency_enrolment_secret(agency_id: str, data_dir: DataDir = None) -> None:
    """Issue a one-time enrolment secret (shown once; hand it to the agency out of band). With it the
    agency binds its own first keys (``python -m connectors.cli enrol``); nothing else makes a key usable."""
    from .registry import bindings
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        with sessions() as session, session.begin():
            _, secret = bindings.issue_enrolment_secret(session, agency_id, actor=OPERATOR, now=SystemClock().now())
        typer.echo(secret)
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
    """Add a public key (pending; used only once the agency binds it with its own signature)."""
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
    """Record a person's read-back check of a pending key (it stays unused until the agency binds it)."""
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


@app.command("erase-subject")
def erase_subject_command(
    subject_id: Annotated[str, typer.Argument(help="The subject to erase (its rows go, its key is destroyed).")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: erasure cannot be undone.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Erase a subject: every row about the person goes and the audit log forgets who it was (issue 22)."""
    from datetime import UTC, datetime

    from crypto.at_rest import derive_key
    from crypto.keys import load_signing_seed

    from .audit.log import Actor
    from .erasure import erase_subject
    from .retention_broadcast import broadcast, recipients
    from .retention_schedule import load_schedule
    from .sealing import active_holds
    from .statistics.store import UNIT_LABEL, UnitKey

    if not yes:
        _fail("erasure cannot be undone: pass --yes to confirm")
    settings = _settings(data_dir)
    engine, sessions = _session(settings)
    try:
        seed = load_signing_seed(settings.signing_key_path)
        units = UnitKey(derive_key(seed, UNIT_LABEL))
        now, actor, subject_id = datetime.now(UTC), Actor(role="operator", user="cli"), subject_id[:64]
        with sessions() as session, session.begin():
            if active_holds(session, now, [subject_id]):
                _fail("legal_hold_active: a legal hold or court order preserves this subject's data; lift it first")
            # Every agency that received data about the person is told first (gateway.retention_broadcast).
            told = broadcast(session, signing_seed=seed, action="erased", told=recipients(session, subject_id),
                             classes=None, subject_id=None, actor=actor, at=now,
                             ack_days=load_schedule(settings.policy_dir).ack_days)
            done = erase_subject(session, subject_id, actor=actor, at=now, units=units)
    finally:
        engine.dispose()
    out.print(f"told {len(told)} recipient agenc(y/ies)")
    out.print(f"erased: {sum(done.deleted.values())} row(s) in {len(done.deleted)} table(s); "
              f"{'key destroyed' if done.pseudonym else 'no key'}; "
              f"{done.legacy_linked_entries} older entr(y/ies) still carry the id")


@app.command()
def rules(
    repo: Annotated[Path, typer.Option(help="Repository root.")] = Path("."),
) -> None:
    """Print rule -> policy rule -> tests; exit non-zero when an implemented rule has no test."""
    from .rules import main_check

    raise typer.Exit(code=main_check(repo))


def main() -> None:
    """Run the command; anything unexpected still ends in one line on stderr and exit 1, not a traceback
    (``GATEWAY_TRACEBACK=1`` shows it for debugging)."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("GATEWAY_TRACEBACK"):
            raise
        err.print(f"[red]error:[/red] {one_line(exc)}", highlight=False)
        sys.exit(1)


def one_line(exc: BaseException) -> str:
    """A one-line description of an unexpected error (its type and the first line of its message)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
