"""``gateway policy``: the policy owner's tools for signed bundles (``keygen``, ``sign``, ``verify``).

Run by whoever owns the policy (the DPO), on their own machine: the private key never goes to the
gateway host. The gateway and OPA are given only the public key and the signed bundle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from .bundle import PolicyBundle
from .signed import (
    DEFAULT_KEY_ID,
    PolicyBundleError,
    build_signed_bundle,
    generate_signing_key,
    load_signing_key,
    load_verification_key,
    verify_signed_bundle,
)

app = typer.Typer(help="Signed policy bundles (the policy owner's key, OPA's bundle format).", no_args_is_help=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (PEM, mode 0600); the public key "
                                           "goes beside it as <out>.pub")],
) -> None:
    """Make the policy owner's signing key (P-256, ES256). Keep it off the gateway host."""
    public = out.with_name(out.name + ".pub")
    key = generate_signing_key()
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _fail(f"{out} exists; not overwriting a signing key")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    public.write_bytes(key.as_pem(private=False))
    typer.echo(f"private key: {out}\npublic key:  {public} (give this to the gateway and OPA)")


@app.command()
def sign(
    signing_key: Annotated[Path, typer.Option(help="The policy owner's private key (PEM)")],
    out: Annotated[Path, typer.Option(help="The signed bundle to write (.tar.gz)")],
    policy_dir: Annotated[Path, typer.Argument(help="The policies directory")] = Path("policies"),
    key_id: Annotated[str, typer.Option(help="The key id OPA's configuration names the key by")] = DEFAULT_KEY_ID,
) -> None:
    """Build and sign the bundle of POLICY_DIR (as ``opa build -b --signing-key --signing-alg ES256``)."""
    try:
        policy = PolicyBundle.load(policy_dir)
        raw = build_signed_bundle(policy, load_signing_key(signing_key), key_id=key_id)
    except PolicyBundleError as exc:
        _fail(f"{exc.reason}: {exc.detail}")
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    out.write_bytes(raw)
    typer.echo(f"signed {out} (revision {policy.version}, key id {key_id!r})")


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="The signed bundle (.tar.gz)")],
    verification_key: Annotated[Path, typer.Option(help="The policy owner's public key (PEM)")],
    key_id: Annotated[str, typer.Option(help="The key id the bundle must be signed under")] = DEFAULT_KEY_ID,
) -> None:
    """Check a bundle as the gateway does at start: exit 0 and print the revision, or exit 1 with the reason."""
    try:
        verified = verify_signed_bundle(bundle.read_bytes(), load_verification_key(verification_key), key_id=key_id)
    except PolicyBundleError as exc:
        _fail(f"{exc.reason}: {exc.detail}")
    except OSError as exc:
        _fail(f"cannot read {bundle}: {exc.strerror}")
    typer.echo(f"OK {verified.revision}")
