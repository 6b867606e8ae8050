"""``python -m connectors.cli``: small agency-side helpers (print an access token, show fingerprints)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer

from crypto.errors import CryptoError
from crypto.keys import generate_agency_keys, load_key_file, save_key_file

from .client import GatewayClient
from .errors import ConnectorError

app = typer.Typer(help="Agency-side helpers for the safe-referral gateway.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


@app.command()
def token(
    agency_id: str,
    data_dir: Annotated[Path, typer.Option(help="Demo data directory holding agency-keys/.")] = Path("var/demo"),
    key_file: Annotated[Path | None, typer.Option(help="The agency's private key file.")] = None,
    url: Annotated[str, typer.Option(help="Gateway base URL.")] = "http://127.0.0.1:8000",
) -> None:
    """Print a five-minute access token obtained with a private_key_jwt assertion."""
    path = key_file or data_dir / "agency-keys" / f"{agency_id}.json"
    try:
        keys = load_key_file(path)
    except (OSError, CryptoError) as exc:
        _fail(f"cannot read the key file {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        with GatewayClient(url, agency_id, keys) as client:
            typer.echo(client.token())
    except httpx.HTTPError as exc:
        # ConnectError and the other transport errors are not OSErrors: say where and why in one line.
        _fail(f"cannot reach the gateway at {url}: {exc or type(exc).__name__} (is it running? pass --url)")
    except ConnectorError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@app.command()
def keygen(path: Path) -> None:
    """Generate an agency's key pair into PATH (mode 0600) and print the public keys and fingerprints."""
    if path.exists():
        _fail(f"{path} exists; refusing to overwrite a private key")
    keypair = generate_agency_keys()
    try:
        save_key_file(path, keypair)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")
    public = keypair.public()
    fps = public.fingerprints()
    typer.echo(f"encryption (x25519) public key: {public.encryption_b64}\n  fingerprint: {fps['encryption']}")
    typer.echo(f"signing (ed25519) public key:  {public.signing_b64}\n  fingerprint: {fps['signing']}")


@app.command()
def enrol(
    agency_id: str,
    secret: Annotated[str, typer.Option(help="The one-time enrolment secret the operator gave you out of band.")],
    key_file: Annotated[Path, typer.Option(help="The agency's private key file (keygen makes one).")],
    url: Annotated[str, typer.Option(help="Gateway base URL.")] = "http://127.0.0.1:8000",
) -> None:
    """First enrolment: bind this agency's keys with its own signing key, then print the fingerprints
    to read out to the agencies you deal with (they pin them)."""
    from datetime import UTC, datetime
    try:
        keys = GatewayClient.enrol(url, agency_id, load_key_file(key_file), secret, at=datetime.now(UTC).isoformat())
    except (ConnectorError, OSError, CryptoError, httpx.HTTPError) as exc:
        _fail(str(exc) or type(exc).__name__)
    for key in keys:
        typer.echo(f"enrolled {key['id']} {key['kind']} {key['status']}\n  fingerprint: {key['fingerprint']}")


@app.command("monitor-keys")
def monitor_keys(
    agency_id: str,
    key_file: Annotated[Path, typer.Option(help="The agency's private key file.")],
    url: Annotated[str, typer.Option(help="Gateway base URL.")] = "http://127.0.0.1:8000",
    known: Annotated[list[str] | None, typer.Option(help="Another public key (base64url) this agency bound.")] = None,
) -> None:
    """Alarm (exit 3) on any key in this agency's name that it did not bind itself."""
    try:
        with GatewayClient(url, agency_id, load_key_file(key_file)) as client:
            alarms = client.monitor_keys(set(known or []))
    except (ConnectorError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for alarm in alarms:
        typer.echo(f"ALARM {alarm['key_id']} {alarm.get('kind', '-')} {alarm.get('fingerprint', '-')}: {alarm['why']}")
    if alarms:
        raise typer.Exit(3)
    typer.echo(f"ok: every key in {agency_id}'s name was bound by {agency_id}")


def main() -> None:
    """Run a command; anything unexpected still ends in one line on stderr and exit 1."""
    try:
        app()
    except Exception as exc:
        text = str(exc).strip().splitlines()
        typer.echo(f"error: {type(exc).__name__}: {text[0] if text else ''}".rstrip(": "), err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
