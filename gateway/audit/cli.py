"""``gateway audit``: verify the whole log, sign a checkpoint, show the latest one.

``gateway audit verify`` exits 0 only when every entry, tree node and checkpoint checks
out; otherwise it prints each problem with the entry (seq) concerned and exits 1. An
independent verifier passes the gateway's public key itself (``--public-key`` or
``--jwks``) instead of trusting the key file next to the database, and any checkpoints
it kept earlier (``--checkpoint``), which detects a log rewritten and re-signed since.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from consent.clock import SystemClock
from crypto import note as notes
from crypto.checkpoint import Checkpoint
from crypto.encoding import b64u_decode
from crypto.keys import load_signing_seed, signing_public_key

from .. import db
from ..settings import Settings
from ..store_check import StoreUnavailable, require_store
from . import checkpoints, redaction
from .incremental import last_verified_checkpoint, verify_since
from .log import Actor
from .notes import NoteSigner, parse_witnesses
from .verify import VerificationReport, record_verification, verify_database
from .witnessed import WitnessHead, verify_witnessed

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DataDir = Annotated[Path | None, typer.Option(help="Data directory (default: $GATEWAY_DATA_DIR or ./var).")]


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


def _settings(data_dir: Path | None) -> Settings:
    try:
        settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    try:
        require_store(settings)
    except StoreUnavailable as exc:
        _fail(str(exc))
    return settings


def _public_key(settings: Settings, public_key: str | None, jwks: Path | None) -> bytes:
    if public_key:
        try:
            raw = b64u_decode(public_key)
        except ValueError:
            _fail("--public-key is not base64url")
        if len(raw) != 32:
            _fail("--public-key must be a 32-byte Ed25519 key")
        return raw
    if jwks is not None:
        try:
            keys: list[dict[str, Any]] = json.loads(jwks.read_text())["keys"]
            okp = [k for k in keys if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"]
            return b64u_decode(okp[0]["x"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            _fail(f"{jwks} is not a JWK set with an Ed25519 key")
    try:
        return signing_public_key(load_signing_seed(settings.signing_key_path))
    except Exception:
        _fail(f"no gateway key at {settings.signing_key_path}: pass --public-key or --jwks")


def _load_checkpoints(paths: list[Path]) -> list[Checkpoint]:
    found: list[Checkpoint] = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
            items = data if isinstance(data, list) else [data]
            found.extend(Checkpoint.from_json(item) for item in items)
        except (OSError, ValueError) as exc:
            _fail(f"{path}: not a checkpoint ({exc})")
    return found


@app.command()
def verify(
    data_dir: DataDir = None,
    public_key: Annotated[str | None, typer.Option(help="The gateway's Ed25519 public key, base64url.")] = None,
    jwks: Annotated[Path | None, typer.Option(help="A saved copy of the gateway's /.well-known/jwks.json.")] = None,
    checkpoint: Annotated[list[Path] | None, typer.Option(
        help="A checkpoint kept earlier (JSON as the API serves it; repeat, or a file with a list).")] = None,
    origin: Annotated[str | None, typer.Option(help="Require checkpoints to name this log (the gateway URL).")] = None,
    record: Annotated[bool, typer.Option(help="Store the outcome for the DPO console.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    witnessed: Annotated[bool, typer.Option(
        "--witnessed", help="Also require witness cosignatures (quorum) and name the first checkpoint that lacks "
                            "them or contradicts a witness.")] = False,
    log_key: Annotated[str | None, typer.Option(
        help="The checkpoint key as a verifier key (default: computed from the key file next to the database).")
    ] = None,
    witness: Annotated[list[str] | None, typer.Option(
        help="A trusted witness's verifier key (repeat; default: GATEWAY_WITNESSES and witnesses.txt).")] = None,
    quorum: Annotated[int | None, typer.Option(help="Cosignatures required (default GATEWAY_WITNESS_QUORUM).")
    ] = None,
    witness_state: Annotated[list[Path] | None, typer.Option(
        help="A witness's state file (its last cosigned head) to check against the log (repeat).")] = None,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Verify only the entries since the newest checkpoint within the last successful "
                              "verification recorded (their tree must fold to its signed root).")] = False,
    since_checkpoint: Annotated[Path | None, typer.Option(
        help="Verify only the entries since this checkpoint, kept earlier (JSON as the API serves it); refused "
             "unless the stored tree folds to its signed root.")] = None,
) -> None:
    """Recompute every leaf, the tree and every checkpoint; name each entry that differs."""
    settings = _settings(data_dir)
    key = _public_key(settings, public_key, jwks)
    external = _load_checkpoints(checkpoint or [])
    start: Checkpoint | None = None
    if since_checkpoint is not None:
        kept = _load_checkpoints([since_checkpoint])
        if len(kept) != 1:
            _fail(f"{since_checkpoint}: give exactly one checkpoint to start from")
        start = kept[0]
    if (incremental or start is not None) and (external or witnessed):
        _fail("--incremental and --since-checkpoint verify a range: use a full verification for "
              "--checkpoint and --witnessed")
    witness_check = _witness_check(settings, log_key, witness, quorum, witness_state) if witnessed else None
    engine = db.make_engine(settings.resolved_database_url)
    sessions = db.make_sessionmaker(engine)
    clock = SystemClock()
    try:
        started = clock.now()
        if incremental and start is None:
            with sessions() as session:
                start = last_verified_checkpoint(session)
            if start is None:
                _fail("no successful verification with a checkpoint recorded yet: run a full verification first")
        with sessions() as session:
            if start is not None:
                report = verify_since(session, key, start, origin=origin)
            else:
                report = verify_database(session, key, external=external, origin=origin)
        if witness_check is not None:
            with sessions() as session:
                witness_check(session, report)
        if record:
            with sessions() as session, session.begin():
                record_verification(session, report, started=started, finished=clock.now(),
                                    source="cli" if start is None else f"cli:since {start.tree_size}")
    finally:
        engine.dispose()
    if as_json:
        out.print_json(json.dumps({
            "ok": report.ok, "since_tree_size": None if start is None else start.tree_size,
            "tree_size": report.tree_size, "root_hash": report.root_hash,
            "entries_checked": report.entries_checked, "nodes_checked": report.nodes_checked,
            "checkpoints_checked": report.checkpoints_checked, "problem_count": report.problem_count,
            "problems": [p.as_dict() for p in report.problems], "warnings": report.warnings,
            "seconds": round(report.seconds, 3),
        }))
    else:
        for problem in report.problems:
            where = f"seq {problem.seq}" if problem.seq is not None else "log"
            out.print(f"{where}: {problem.kind}: {problem.detail}")
        for warning in report.warnings:
            err.print(f"warning: {warning}")
        rate = report.entries_checked / report.seconds if report.seconds else 0.0
        since = "" if start is None else f" since checkpoint {start.tree_size}"
        out.print(f"{report.summary()}{since} ({report.seconds:.2f} s, {rate:,.0f} entries/s)")
    if not report.ok:
        raise typer.Exit(code=1)


def _witness_check(settings: Settings, log_key: str | None, witness: list[str] | None, quorum: int | None,
                   states: list[Path] | None) -> Callable[[Session, VerificationReport], None]:
    try:
        log_verifier = (notes.Verifier.parse(log_key) if log_key else
                        notes.signer_verifier(settings.log_origin, load_signing_seed(settings.checkpoint_key_path)))
        witnesses = (parse_witnesses("\n".join(witness), None) if witness else
                     parse_witnesses(settings.witnesses, settings.witnesses_path))
    except (ValueError, OSError) as exc:
        _fail(f"cannot read the checkpoint or witness keys: {exc}")
    heads: list[WitnessHead] = []
    for path in states or []:
        try:
            data = json.loads(path.read_text())
            heads.append(WitnessHead(witness=path.name, size=int(data["size"]), root=bytes.fromhex(data["root"])))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _fail(f"{path}: not a witness state file ({exc})")
    need = settings.witness_quorum if quorum is None else quorum
    if need > len(witnesses):
        _fail(f"a quorum of {need} needs at least {need} witness keys; {len(witnesses)} given")

    def check(session: Session, report: VerificationReport) -> None:
        verify_witnessed(session, report, log_key=log_verifier, witnesses=witnesses, quorum=need,
                         witness_heads=heads)

    return check


@app.command("checkpoint")
def sign_checkpoint(
    data_dir: DataDir = None,
    origin: Annotated[str | None, typer.Option(
        help="The log's name (the gateway's URL). Default: the origin of the log's latest checkpoint, as the "
             "server signed it; for a log without one, $GATEWAY_ISSUER.")] = None,
) -> None:
    """Sign a checkpoint of the log as it is now and print it."""
    settings = _settings(data_dir)
    try:
        seed = load_signing_seed(settings.signing_key_path)
    except Exception:
        _fail(f"no gateway signing key at {settings.signing_key_path}")
    engine = db.make_engine(settings.resolved_database_url)
    try:
        with db.make_sessionmaker(engine)() as session, session.begin():
            if origin is None:
                # One log, one name: the server names it by the address it serves on, so a checkpoint
                # signed here must carry the same origin or `audit verify --origin` would fail on it.
                previous = checkpoints.latest_checkpoint(session)
                origin = previous.origin if previous is not None else settings.issuer
            signer = (NoteSigner(settings.log_origin, load_signing_seed(settings.checkpoint_key_path))
                      if settings.checkpoint_key_path.exists() else None)
            made = checkpoints.create_checkpoint(session, seed, origin=origin, at=SystemClock().now(),
                                                 signer=signer)
    finally:
        engine.dispose()
    out.print_json(json.dumps(made.to_json()))


@app.command()
def latest(data_dir: DataDir = None) -> None:
    """Print the latest signed checkpoint (keep it: a later verify --checkpoint detects rewrites)."""
    settings = _settings(data_dir)
    engine = db.make_engine(settings.resolved_database_url)
    try:
        with db.make_sessionmaker(engine)() as session:
            found = checkpoints.latest_checkpoint(session)
    finally:
        engine.dispose()
    if found is None:
        _fail("no checkpoint yet")
    out.print_json(json.dumps(found.to_json()))


@app.command("redact-preview-hashes")
def redact_preview_hashes(
    data_dir: DataDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the entries that would be redacted.")] = False,
) -> None:
    """Remove the unkeyed preview hashes old entries hold (run as the tables' owner); the log still verifies.

    Each entry keeps its leaf hash; its entry id is replaced too (the leaf would otherwise confirm a
    guessed preview), and one ``audit:log:redact`` entry records the batch (gateway.audit.redaction).
    """
    settings = _settings(data_dir)
    engine = db.make_engine(settings.resolved_database_url)
    try:
        with db.make_sessionmaker(engine)() as session, session.begin():
            found = redaction.preview_hash_redactions(session)
            if dry_run or not found:
                out.print(f"{len(found)} entries hold an unkeyed preview hash")
                return
            try:
                batch = redaction.redact_entries(session, found, reason=redaction.PREVIEW_HASH_REASON,
                                                 actor=Actor.system(), at=SystemClock().now())
            except redaction.RedactionRefused as exc:
                _fail(f"nothing redacted: {exc}")
            except DBAPIError as exc:
                _fail(f"nothing redacted: the database refused ({type(exc.orig).__name__}); run this as the "
                      "audit tables' owner, not as the gateway's role")
    finally:
        engine.dispose()
    assert batch is not None
    out.print(f"redacted {len(batch.seqs)} entries; recorded as seq {batch.recorded_seq} (batch {batch.batch_id})")
