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


def test_the_at_rest_key_is_its_own_rotates_and_older_rows_still_open(ctx: GatewayContext, tmp_path: Path) -> None:
    """Issue 15: the at-rest key is a random key of the ring (not derived from the token seed), never
    published; each stored text names its key id; after a rotation new texts use the new key and
    texts sealed under the old one (or, before the ring had one, under the seed-derived key) still open."""
    from crypto.at_rest import derive_key, seal_text
    from crypto.errors import DecryptionFailed
    from gateway.at_rest import AtRest

    assert ctx.keyring is not None
    at_rest = ctx.at_rest()
    first = ctx.keyring.current("at_rest")
    assert first.seed not in (ctx.signing_seed, ctx.checkpoint_seed)
    assert first.kid not in {k["kid"] for k in ctx.keyring.jwks()}  # a secret: never in the JWKS
    old_row = at_rest.seal("portal-message", "my address is 12 Elm St", where="req_1")
    assert old_row.startswith(f"sr2.{first.kid}.") and "Elm" not in old_row
    legacy_row = seal_text(derive_key(ctx.signing_seed, "portal-message"), "written long ago", where="req_0")

    path = tmp_path / "ring.json"
    ctx.keyring.path = path
    second = ctx.keyring.rotate("at_rest")
    new_row = ctx.at_rest().seal("portal-message", "a new complaint", where="req_2")
    assert new_row.startswith(f"sr2.{second.kid}.") and second.kid != first.kid
    reloaded = AtRest(KeyRing.load(path), legacy_seed=ctx.signing_seed)  # after a restart
    assert reloaded.open("portal-message", old_row, where="req_1") == "my address is 12 Elm St"
    assert reloaded.open("portal-message", new_row, where="req_2") == "a new complaint"
    assert reloaded.open("portal-message", legacy_row, where="req_0") == "written long ago"
    # A row moved to another row, or whose key id is changed, does not open.
    for sealed, where in ((old_row, "req_2"), (new_row.replace(second.kid, first.kid, 1), "req_2")):
        try:
            reloaded.open("portal-message", sealed, where=where)
        except DecryptionFailed:
            continue
        raise AssertionError("a moved or relabelled row opened")


def test_a_ring_written_before_the_at_rest_key_gets_one(tmp_path: Path) -> None:
    import json

    path = tmp_path / "ring.json"
    ring = KeyRing.load_or_create(path, create=True)
    data = json.loads(path.read_text())
    del data["keys"]["at_rest"]
    path.write_text(json.dumps(data))
    upgraded = KeyRing.load(path)
    assert upgraded.current("receipts").kid == ring.current("receipts").kid
    assert "at_rest" in json.loads(path.read_text())["keys"]
