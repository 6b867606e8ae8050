"""Agency keys, fingerprints, key files and JWKs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from pathlib import Path

import pytest
from joserfc.jwk import OKPKey

from crypto.encoding import b64u_encode
from crypto.errors import InvalidKey
from crypto.keys import (
    AgencyKeyPair,
    AgencyPublicKeys,
    ed25519_private_jwk,
    ed25519_public_jwk,
    fingerprint,
    generate_agency_keys,
    generate_signing_seed,
    jwk_kid,
    load_key_file,
    load_signing_seed,
    normalise_fingerprint,
    save_key_file,
    save_signing_seed,
    signing_public_key,
)

FINGERPRINT_RE = re.compile(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){7}")
KEY = bytes(range(32))

# RFC 8032 §7.1 TEST 1 (also RFC 8037 Appendix A.1): an Ed25519 seed and its public key.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


# --- generation and derivation ---------------------------------------------------------


def test_generated_agency_keys_are_32_bytes_and_fresh_each_time() -> None:
    first, second = generate_agency_keys(), generate_agency_keys()
    for pair in (first, second):
        assert len(pair.encryption_private) == 32
        assert len(pair.signing_seed) == 32
    assert first.encryption_private != second.encryption_private
    assert first.signing_seed != second.signing_seed
    assert first.encryption_private != first.signing_seed


def test_public_keys_are_derived_deterministically() -> None:
    pair = generate_agency_keys()
    assert pair.public() == pair.public()
    assert pair.public().signing == signing_public_key(pair.signing_seed)
    assert len(pair.public().encryption) == 32


def test_signing_public_key_matches_rfc8032_test_vector() -> None:
    assert signing_public_key(RFC8032_SEED) == RFC8032_PUBLIC


def test_generated_signing_seeds_are_fresh() -> None:
    assert len(generate_signing_seed()) == 32
    assert generate_signing_seed() != generate_signing_seed()


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "a" * 32, bytearray(32)])
def test_public_keys_of_the_wrong_length_or_type_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidKey):
        AgencyPublicKeys(encryption=bad, signing=KEY)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        AgencyPublicKeys(encryption=KEY, signing=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33, "x" * 32])
def test_private_keys_of_the_wrong_length_or_type_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidKey):
        AgencyKeyPair(encryption_private=bad, signing_seed=KEY)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        AgencyKeyPair(encryption_private=KEY, signing_seed=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        signing_public_key(bad)  # type: ignore[arg-type]


def test_public_keys_round_trip_through_base64url() -> None:
    public = generate_agency_keys().public()
    assert public.encryption_b64 == b64u_encode(public.encryption)
    assert public.signing_b64 == b64u_encode(public.signing)
    assert AgencyPublicKeys.from_b64(public.encryption_b64, public.signing_b64) == public


@pytest.mark.parametrize("bad", ["", "AA==", "not base64!", b64u_encode(b"\x00" * 31)])
def test_public_keys_from_bad_base64url_are_rejected_as_invalid_key(bad: str) -> None:
    with pytest.raises(InvalidKey):
        AgencyPublicKeys.from_b64(bad, b64u_encode(KEY))


def test_key_pair_repr_never_shows_private_bytes() -> None:
    pair = generate_agency_keys()
    text = repr(pair) + str(pair) + f"{pair}"
    for secret in (pair.encryption_private, pair.signing_seed):
        for encoded in (
            secret.hex(),
            b64u_encode(secret),
            base64.b64encode(secret).decode(),
            repr(secret),
            repr(secret)[2:12],
        ):
            assert encoded not in text
    assert pair.public().fingerprints()["signing"] in text


# --- fingerprints -----------------------------------------------------------------------


def test_fingerprint_is_eight_groups_of_four_base32_characters() -> None:
    for kind in ("x25519", "ed25519"):
        assert FINGERPRINT_RE.fullmatch(fingerprint(KEY, kind))


def test_fingerprint_is_stable_across_releases() -> None:
    # Pinned values: if these change, every fingerprint anyone wrote down is void.
    assert fingerprint(KEY, "x25519") == "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG2P"
    assert fingerprint(KEY, "ed25519") == "4E2J-H2XZ-LRAV-BSIN-YA35-N6BE-TR2F-VCRZ"


def test_fingerprint_is_the_documented_construction() -> None:
    digest = hashlib.sha256(b"safe-referral-gateway/key-fingerprint/v1\x00ed25519\x00" + KEY).digest()
    compact = base64.b32encode(digest[:20]).decode()
    assert len(compact) == 32
    assert fingerprint(KEY, "ed25519").replace("-", "") == compact


def test_fingerprints_differ_between_key_kinds_and_keys() -> None:
    assert fingerprint(KEY, "x25519") != fingerprint(KEY, "ed25519")
    other = bytes(31) + b"\x01"
    assert fingerprint(KEY, "x25519") != fingerprint(other, "x25519")


def test_public_keys_report_both_fingerprints() -> None:
    public = generate_agency_keys().public()
    assert public.fingerprints() == {
        "encryption": fingerprint(public.encryption, "x25519"),
        "signing": fingerprint(public.signing, "ed25519"),
    }


def test_fingerprint_rejects_bad_keys_and_kinds() -> None:
    with pytest.raises(InvalidKey):
        fingerprint(b"\x00" * 31, "x25519")
    with pytest.raises(ValueError):
        fingerprint(KEY, "rsa")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "typed",
    [
        "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG2P",
        "gwnp-nytz-2f4z-cj7d-kqa3-57lg-mcxv-og2p",
        "GWNP NYTZ 2F4Z CJ7D KQA3 57LG MCXV OG2P",
        "GWNPNYTZ2F4ZCJ7DKQA357LGMCXVOG2P",
        "  gwnp nytz-2f4z cj7d\tkqa3 57lg mcxv-og2p \n",
    ],
)
def test_normalise_fingerprint_accepts_what_people_type(typed: str) -> None:
    assert normalise_fingerprint(typed) == fingerprint(KEY, "x25519")


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG2",  # too short
        "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG2PP",  # too long
        "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-0G2P",  # digit 0 for letter O is not guessed
        "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG1P",  # digit 1 is not in the alphabet
        "GWNP_NYTZ_2F4Z_CJ7D_KQA3_57LG_MCXV_OG2P",  # underscores are not separators
        "GWNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG2\u00df",  # "ß".upper() == "SS": no Unicode tricks
        "\uff27WNP-NYTZ-2F4Z-CJ7D-KQA3-57LG-MCXV-OG2P",  # full-width G
    ],
)
def test_normalise_fingerprint_rejects_anything_else(typed: str) -> None:
    with pytest.raises(ValueError):
        normalise_fingerprint(typed)


# --- key files ----------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_round_trips_and_is_mode_0600(tmp_path: Path) -> None:
    pair = generate_agency_keys()
    path = tmp_path / "agency.key"
    save_key_file(path, pair)
    assert _mode(path) == 0o600
    assert load_key_file(path) == pair
    assert load_key_file(str(path)) == pair


def test_key_file_is_mode_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        save_key_file(tmp_path / "a.key", generate_agency_keys())
        save_signing_seed(tmp_path / "g.key", generate_signing_seed())
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.key") == 0o600
    assert _mode(tmp_path / "g.key") == 0o600


def test_key_file_is_versioned_json_with_base64url_fields(tmp_path: Path) -> None:
    pair = generate_agency_keys()
    path = tmp_path / "agency.key"
    save_key_file(path, pair)
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["format"] == "safe-referral-gateway/agency-keypair"
    assert document["encryption_private"] == b64u_encode(pair.encryption_private)
    assert document["signing_seed"] == b64u_encode(pair.signing_seed)
    assert document["signing_public"] == pair.public().signing_b64


def test_saving_leaves_no_temporary_files_behind(tmp_path: Path) -> None:
    save_key_file(tmp_path / "agency.key", generate_agency_keys())
    with pytest.raises(FileExistsError):
        save_key_file(tmp_path / "agency.key", generate_agency_keys())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agency.key"]


def test_saving_never_overwrites_a_key_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "agency.key"
    original, replacement = generate_agency_keys(), generate_agency_keys()
    save_key_file(path, original)
    with pytest.raises(FileExistsError):
        save_key_file(path, replacement)
    assert load_key_file(path) == original
    save_key_file(path, replacement, overwrite=True)
    assert load_key_file(path) == replacement
    assert _mode(path) == 0o600


def test_saving_without_hard_link_support_still_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError("this filesystem has no hard links")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "agency.key"
    pair = generate_agency_keys()
    save_key_file(path, pair)
    assert load_key_file(path) == pair
    assert _mode(path) == 0o600
    with pytest.raises(FileExistsError):
        save_key_file(path, generate_agency_keys())
    assert load_key_file(path) == pair
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agency.key"]


def test_loading_refuses_a_key_file_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "agency.key"
    save_key_file(path, generate_agency_keys())
    path.chmod(0o640)
    with pytest.raises(InvalidKey, match="chmod 600"):
        load_key_file(path)


def test_loading_detects_public_keys_that_do_not_match_the_private_ones(tmp_path: Path) -> None:
    path = tmp_path / "agency.key"
    save_key_file(path, generate_agency_keys())
    document = json.loads(path.read_text())
    document["signing_public"] = generate_agency_keys().public().signing_b64
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidKey):
        load_key_file(path)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"format": "safe-referral-gateway/agency-keypair", "version": 2}',
        '{"format": "something-else", "version": 1}',
        '{"format": "safe-referral-gateway/agency-keypair", "version": 1, "signing_seed": "AA"}',
    ],
)
def test_loading_rejects_malformed_key_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "agency.key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(InvalidKey):
        load_key_file(path)


def test_loading_a_missing_key_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_key_file(tmp_path / "missing.key")


def test_signing_seed_file_round_trips_and_is_mode_0600(tmp_path: Path) -> None:
    seed = generate_signing_seed()
    path = tmp_path / "gateway.key"
    save_signing_seed(path, seed)
    assert _mode(path) == 0o600
    assert load_signing_seed(path) == seed
    with pytest.raises(FileExistsError):
        save_signing_seed(path, generate_signing_seed())
    assert load_signing_seed(path) == seed


def test_key_files_of_one_kind_cannot_be_loaded_as_the_other(tmp_path: Path) -> None:
    save_signing_seed(tmp_path / "gateway.key", generate_signing_seed())
    save_key_file(tmp_path / "agency.key", generate_agency_keys())
    with pytest.raises(InvalidKey):
        load_key_file(tmp_path / "gateway.key")
    with pytest.raises(InvalidKey):
        load_signing_seed(tmp_path / "agency.key")


def test_saving_rejects_bad_seeds(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        save_signing_seed(tmp_path / "gateway.key", b"short")
    assert list(tmp_path.iterdir()) == []


# --- JWKs -------------------------------------------------------------------------------------


def test_private_jwk_matches_rfc8037_example_key() -> None:
    # RFC 8037 Appendix A.1.
    jwk = ed25519_private_jwk(RFC8032_SEED)
    assert jwk["kty"] == "OKP"
    assert jwk["crv"] == "Ed25519"
    assert jwk["d"] == "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    assert jwk["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def test_jwk_kid_is_the_ed25519_fingerprint_without_dashes() -> None:
    kid = fingerprint(RFC8032_PUBLIC, "ed25519").replace("-", "")
    assert jwk_kid(RFC8032_PUBLIC) == kid
    assert ed25519_public_jwk(RFC8032_PUBLIC)["kid"] == kid
    assert ed25519_private_jwk(RFC8032_SEED)["kid"] == kid


def test_public_jwk_has_no_private_part() -> None:
    jwk = ed25519_public_jwk(RFC8032_PUBLIC)
    assert "d" not in jwk
    assert jwk == {k: v for k, v in ed25519_private_jwk(RFC8032_SEED).items() if k != "d"}


def test_joserfc_imports_both_jwks() -> None:
    private = OKPKey.import_key(ed25519_private_jwk(RFC8032_SEED))  # type: ignore[arg-type]
    public = OKPKey.import_key(ed25519_public_jwk(RFC8032_PUBLIC))  # type: ignore[arg-type]
    assert private.is_private and not public.is_private
    assert private.kid == public.kid == jwk_kid(RFC8032_PUBLIC)
