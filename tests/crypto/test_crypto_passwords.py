"""Argon2id secret hashing and human-typable codes and tokens."""

from __future__ import annotations

import re

import pytest

from crypto.encoding import b64u_decode
from crypto.passwords import CODE_ALPHABET, SecretHasher, normalise_code, random_code, random_token

CHEAP = SecretHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_hasher_verifies_the_right_secret_and_rejects_a_wrong_one() -> None:
    stored = CHEAP.hash("correct horse battery staple")
    assert CHEAP.verify(stored, "correct horse battery staple") is True
    assert CHEAP.verify(stored, "correct horse battery stapl") is False
    assert CHEAP.verify(stored, "") is False


def test_hashes_are_argon2id_with_the_configured_parameters_and_a_random_salt() -> None:
    first, second = CHEAP.hash("s3cret"), CHEAP.hash("s3cret")
    assert first.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert first != second


def test_default_parameters_are_t3_m64mib_p1() -> None:
    hasher = SecretHasher()
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 1)


def test_unicode_secrets_are_normalised_before_hashing() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert CHEAP.verify(CHEAP.hash(composed), decomposed)


def test_needs_rehash_when_parameters_change() -> None:
    stored = CHEAP.hash("x")
    assert CHEAP.needs_rehash(stored) is False
    assert SecretHasher(time_cost=2, memory_cost=8, parallelism=1).needs_rehash(stored) is True
    assert SecretHasher().needs_rehash(stored) is True


def test_a_stored_value_that_is_not_a_hash_is_a_value_error_not_a_false() -> None:
    with pytest.raises(ValueError):
        CHEAP.verify("not-a-hash", "x")
    with pytest.raises(ValueError):
        CHEAP.needs_rehash("not-a-hash")


def test_a_tampered_hash_does_not_verify() -> None:
    stored = CHEAP.hash("x")
    tampered = stored[:-2] + ("AA" if not stored.endswith("AA") else "BB")
    assert CHEAP.verify(tampered, "x") is False


@pytest.mark.parametrize(("t", "m", "p"), [(0, 8, 1), (1, 7, 1), (1, 8, 0), (1, 15, 2)])
def test_unsafe_or_impossible_parameters_are_refused(t: int, m: int, p: int) -> None:
    with pytest.raises(ValueError):
        SecretHasher(time_cost=t, memory_cost=m, parallelism=p)


def test_random_code_alphabet_has_no_ambiguous_characters() -> None:
    assert not set("0O1IL") & set(CODE_ALPHABET)
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 31
    seen: set[str] = set()
    for _ in range(300):
        code = random_code()
        assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}){2}", code)
        seen.update(code.replace("-", ""))
    assert seen <= set(CODE_ALPHABET)
    assert len(seen) > 25  # 3,600 draws cover the alphabet (all but astronomically rarely)


def test_random_code_shape_is_configurable_and_codes_are_fresh() -> None:
    code = random_code(groups=2, group_len=5)
    assert len(code) == 11 and code[5] == "-"
    assert len({random_code() for _ in range(50)}) == 50
    with pytest.raises(ValueError):
        random_code(groups=0)


def test_typed_codes_normalise_to_the_issued_form() -> None:
    code = random_code()
    assert normalise_code(code) == code
    assert normalise_code(code.lower().replace("-", " ")) == code
    assert normalise_code(code.replace("-", "")) == code


@pytest.mark.parametrize("typed", ["", "ABCD-EFGH-0JKM", "ABCD-EFGH-IJKM", "ABCD_EFGH", "ABCD-\u00df"])
def test_typed_codes_with_foreign_characters_are_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        normalise_code(typed)


def test_random_tokens_are_base64url_of_libsodium_bytes() -> None:
    token = random_token()
    assert len(token) == 43
    assert len(b64u_decode(token)) == 32
    assert len(b64u_decode(random_token(16))) == 16
    assert token != random_token()
    with pytest.raises(ValueError):
        random_token(8)
