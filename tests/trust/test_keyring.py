"""One key per purpose: tokens, checkpoints, receipts and webhooks each sign with a key of their own;
rotation keeps the older key published, so what it signed still verifies."""

from __future__ import annotations

import stat
from pathlib import Path

from fastapi.testclient import TestClient

from crypto.keys import signing_public_key
from crypto.signing import sign, verify
from gateway.context import GatewayContext
from gateway.keyring import KeyRing


def test_every_purpose_has_its_own_key_and_the_jwks_names_each(client: TestClient, ctx: GatewayContext) -> None:
    assert ctx.keyring is not None and ctx.checkpoint_seed is not None
    publics = {
        "tokens": signing_public_key(ctx.signing_seed),
        "checkpoints": signing_public_key(ctx.checkpoint_seed),
        "receipts": ctx.keyring.current("receipts").public_key,
        "webhooks": ctx.keyring.current("webhooks").public_key,
    }
    assert len(set(publics.values())) == 4
    jwks = client.get("/.well-known/jwks.json").json()["keys"]
    kids = {k["kid"]: k.get("purpose", "tokens") for k in jwks}
    assert kids == {ctx.tokens.kid: "tokens", ctx.keyring.current("receipts").kid: "receipts",
                    ctx.keyring.current("webhooks").kid: "webhooks"}


def test_rotation_keeps_older_keys_published_and_the_file_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ring.json"
    ring = KeyRing.load_or_create(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = ring.current("receipts")
    signature = sign(old.seed, b"a receipt")
    new = ring.rotate("receipts")
    reloaded = KeyRing.load(path)
    assert reloaded.current("receipts").kid == new.kid != old.kid
    published = {k["kid"]: k for k in reloaded.jwks()}
    assert old.kid in published and new.kid in published
    verify(old.public_key, b"a receipt", signature)  # still verifiable with the published older key
    assert reloaded.current("webhooks").kid == ring.current("webhooks").kid  # other purposes untouched
