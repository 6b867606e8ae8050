"""Compact JWS with EdDSA: round trip, pinned algorithm, and the classic attacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from typing import Any

import pytest

from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import InvalidSignature
from crypto.jws import sign_jws, verify_jws
from crypto.keys import generate_signing_seed, jwk_kid, signing_public_key
from crypto.signing import sign

SEED = generate_signing_seed()
PUBLIC = signing_public_key(SEED)
KID = jwk_kid(PUBLIC)
TYP = "referral-receipt+jwt"
CLAIMS: dict[str, Any] = {"iss": "https://gateway.example", "sub": "agency-a", "n": 1}

# RFC 8037 Appendix A.4: Ed25519 JWS of "Example of Ed25519 signing" with the A.1 key.
RFC8037_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8037_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIGNATURE = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"


def _segment(obj: object) -> str:
    return b64u_encode(json.dumps(obj, separators=(",", ":")).encode())


def _hand_signed(header: dict[str, Any], payload: object, seed: bytes = SEED) -> str:
    """Build a compact JWS without joserfc, as another implementation would."""
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    return f"{signing_input}.{b64u_encode(sign(seed, signing_input.encode()))}"


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64u_decode(token.split(".", maxsplit=1)[0]))
    return header


def test_ed25519_matches_the_rfc8037_jws_example() -> None:
    assert b64u_encode(sign(RFC8037_SEED, RFC8037_SIGNING_INPUT)) == RFC8037_SIGNATURE


def test_jws_round_trips_claims() -> None:
    token = sign_jws(CLAIMS, SEED, kid=KID, typ=TYP)
    assert verify_jws(token, PUBLIC, typ=TYP) == CLAIMS
    assert verify_jws(token, PUBLIC) == CLAIMS


def test_jws_header_names_eddsa_the_kid_and_the_typ() -> None:
    assert _header(sign_jws(CLAIMS, SEED, kid=KID, typ=TYP)) == {"alg": "EdDSA", "kid": KID, "typ": TYP}


def test_jws_payload_is_canonical_json() -> None:
    token = sign_jws({"b": 2, "a": 1}, SEED, kid=KID, typ=TYP)
    assert token.split(".")[1] == b64u_encode(b'{"a":1,"b":2}')


def test_tokens_from_another_standard_implementation_verify() -> None:
    token = _hand_signed({"alg": "EdDSA", "typ": TYP}, CLAIMS)
    assert verify_jws(token, PUBLIC, typ=TYP) == CLAIMS


def test_jws_with_a_different_typ_is_rejected() -> None:
    token = sign_jws(CLAIMS, SEED, kid=KID, typ=TYP)
    with pytest.raises(InvalidSignature):
        verify_jws(token, PUBLIC, typ="at+jwt")
    with pytest.raises(InvalidSignature):
        verify_jws(_hand_signed({"alg": "EdDSA"}, CLAIMS), PUBLIC, typ=TYP)


def test_jws_under_another_key_is_rejected() -> None:
    token = sign_jws(CLAIMS, generate_signing_seed(), kid=KID, typ=TYP)
    with pytest.raises(InvalidSignature):
        verify_jws(token, PUBLIC)


@pytest.mark.parametrize("bad_key", [b"", PUBLIC[:31], bytes(32), "x" * 32])
def test_jws_with_a_malformed_key_is_rejected(bad_key: object) -> None:
    token = sign_jws(CLAIMS, SEED, kid=KID, typ=TYP)
    with pytest.raises(InvalidSignature):
        verify_jws(token, bad_key)  # type: ignore[arg-type]


def test_tampering_with_any_character_of_the_jws_is_rejected() -> None:
    token = sign_jws(CLAIMS, SEED, kid=KID, typ=TYP)
    for position, char in enumerate(token):
        if char == ".":
            continue
        replacement = "A" if char != "A" else "B"
        tampered = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(InvalidSignature):
            verify_jws(tampered, PUBLIC)


def test_alg_none_is_rejected() -> None:
    unsigned = f"{_segment({'alg': 'none', 'typ': TYP})}.{_segment(CLAIMS)}."
    with pytest.raises(InvalidSignature):
        verify_jws(unsigned, PUBLIC)
    with pytest.raises(InvalidSignature):
        verify_jws(unsigned, PUBLIC, typ=TYP)


@pytest.mark.parametrize(
    "secret",
    [PUBLIC, b64u_encode(PUBLIC).encode(), json.dumps({"kty": "OKP", "x": b64u_encode(PUBLIC)}).encode()],
    ids=["raw-public-key", "base64url-public-key", "jwk-json"],
)
def test_hs256_keyed_with_the_public_key_is_rejected(secret: bytes) -> None:
    signing_input = f"{_segment({'alg': 'HS256', 'typ': TYP})}.{_segment(CLAIMS)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidSignature):
        verify_jws(f"{signing_input}.{b64u_encode(mac)}", PUBLIC)


@pytest.mark.parametrize("alg", ["Ed25519", "ES256", "RS256", "eddsa", ""])
def test_only_the_eddsa_algorithm_name_is_accepted(alg: str) -> None:
    # Correctly signed with the right key, but under another algorithm name.
    with pytest.raises(InvalidSignature):
        verify_jws(_hand_signed({"alg": alg}, CLAIMS), PUBLIC)


@pytest.mark.parametrize(
    "extra",
    [
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(PUBLIC)}},
        {"jku": "https://attacker.example/jwks"},
        {"crit": ["b64"], "b64": False},
        {"x5u": "https://attacker.example/cert"},
    ],
    ids=["embedded-jwk", "jku", "unencoded-payload", "x5u"],
)
def test_headers_that_pick_keys_or_change_the_payload_are_rejected(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidSignature):
        verify_jws(_hand_signed({"alg": "EdDSA", **extra}, CLAIMS), PUBLIC)


@pytest.mark.parametrize("payload", [[1, 2], "claims", 42, None])
def test_payloads_that_are_not_json_objects_are_rejected(payload: object) -> None:
    with pytest.raises(InvalidSignature):
        verify_jws(_hand_signed({"alg": "EdDSA"}, payload), PUBLIC)


def test_oversized_headers_are_rejected_before_parsing() -> None:
    with pytest.raises(InvalidSignature):
        verify_jws(_hand_signed({"alg": "EdDSA", "kid": "k" * 2000}, CLAIMS), PUBLIC)


def test_payloads_with_duplicate_claims_are_rejected() -> None:
    header = _segment({"alg": "EdDSA"})
    payload = b64u_encode(b'{"sub":"agency-a","sub":"agency-b"}')
    signing_input = f"{header}.{payload}"
    token = f"{signing_input}.{b64u_encode(sign(SEED, signing_input.encode()))}"
    with pytest.raises(InvalidSignature):
        verify_jws(token, PUBLIC)


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "...", "eyJhbGciOiJFZERTQSJ9..", "not a token at all", None, b"a.b.c"],
)
def test_garbage_tokens_are_rejected(token: object) -> None:
    with pytest.raises(InvalidSignature):
        verify_jws(token, PUBLIC)  # type: ignore[arg-type]


def test_no_eddsa_security_warning_escapes_and_filters_are_restored() -> None:
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        token = sign_jws(CLAIMS, SEED, kid=KID, typ=TYP)
        verify_jws(token, PUBLIC, typ=TYP)
    assert caught == []
    assert warnings.filters == before


def test_claims_must_be_json() -> None:
    with pytest.raises(TypeError):
        sign_jws({"when": object()}, SEED, kid=KID, typ=TYP)
    with pytest.raises(TypeError):
        sign_jws([1, 2], SEED, kid=KID, typ=TYP)  # type: ignore[arg-type]
