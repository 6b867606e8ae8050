"""Per-field sealing: confidentiality, binding to envelope and field, padding, opaque failures."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import _nacl
from crypto.canonical import canonical_json
from crypto.envelope import PAD_BLOCK, ciphertext_hash, open_field, seal_field
from crypto.errors import DecryptionFailed, InvalidKey
from crypto.keys import AgencyKeyPair, generate_agency_keys

RECIPIENT: AgencyKeyPair = generate_agency_keys()
PUBLIC = RECIPIENT.public().encryption
PRIVATE = RECIPIENT.encryption_private
OVERHEAD = 48  # ephemeral X25519 public key (32) + Poly1305 tag (16)


def _seal(value: object, envelope: str = "env-1", field: str = "name") -> bytes:
    return seal_field(envelope, field, value, PUBLIC)


def _raw_seal(plaintext: bytes) -> bytes:
    """Seal arbitrary inner bytes, bypassing seal_field's formatting (what a hostile sender could do)."""
    return _nacl.sealed_box_seal(plaintext, PUBLIC)


def _assert_opaque_failure(call: object) -> DecryptionFailed:
    assert callable(call)
    with pytest.raises(DecryptionFailed) as info:
        call()
    error = info.value
    assert type(error) is DecryptionFailed
    assert str(error) == ""
    assert error.__cause__ is None and error.__suppress_context__
    return error


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -17, 3.25, "", "Ana María", {"street": "1 Main St", "flat": None}, [1, "two", [3]]],
)
def test_sealed_field_opens_to_the_same_value(value: object) -> None:
    assert open_field("env-1", "name", _seal(value), PRIVATE) == value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60)
@given(value=json_values, envelope=st.text(max_size=20), field=st.text(max_size=20))
def test_any_json_value_round_trips_canonically(value: object, envelope: str, field: str) -> None:
    opened = open_field(envelope, field, seal_field(envelope, field, value, PUBLIC), PRIVATE)
    # JCS turns whole floats into ints (1.0 -> 1), so compare canonical forms.
    assert canonical_json(opened) == canonical_json(value)


# --- fresh ephemeral keys and padding -------------------------------------------------------------


def test_sealing_the_same_value_twice_gives_different_ciphertexts() -> None:
    first, second = _seal("same"), _seal("same")
    assert first != second
    # The first 32 bytes are the ephemeral public key: fresh for every seal.
    assert first[:32] != second[:32]


def test_ciphertext_lengths_are_padded_to_256_byte_buckets() -> None:
    lengths = set()
    for size in range(0, 700, 7):
        ciphertext = _seal("x" * size)
        assert (len(ciphertext) - OVERHEAD) % PAD_BLOCK == 0
        lengths.add(len(ciphertext))
    assert lengths == {256 + OVERHEAD, 512 + OVERHEAD, 768 + OVERHEAD}


def test_short_values_of_different_lengths_are_indistinguishable_by_length() -> None:
    assert len(_seal("Al")) == len(_seal("Bartholomew Fitzgerald-Montgomery")) == PAD_BLOCK + OVERHEAD


# --- failures: all of them the same opaque DecryptionFailed --------------------------------------


@pytest.mark.rule("SEC3")
def test_sealed_field_cannot_be_opened_with_another_agencys_key() -> None:
    other = generate_agency_keys().encryption_private
    _assert_opaque_failure(lambda: open_field("env-1", "name", _seal("secret"), other))


def test_sealed_field_cannot_be_moved_to_another_field() -> None:
    ciphertext = _seal("Ana", field="name")
    _assert_opaque_failure(lambda: open_field("env-1", "address", ciphertext, PRIVATE))


def test_sealed_field_cannot_be_moved_to_another_envelope() -> None:
    ciphertext = _seal("Ana", envelope="env-1")
    _assert_opaque_failure(lambda: open_field("env-2", "name", ciphertext, PRIVATE))


def test_binding_is_exact_not_a_prefix_or_case_insensitive_match() -> None:
    ciphertext = _seal("Ana", envelope="env-1", field="name")
    for envelope, field in [("env-10", "name"), ("ENV-1", "name"), ("env-1", "Name"), ("env-1", "name ")]:
        _assert_opaque_failure(lambda e=envelope, f=field: open_field(e, f, ciphertext, PRIVATE))


def test_flipping_any_byte_of_a_ciphertext_makes_it_unopenable() -> None:
    ciphertext = _seal({"notes": "met at the shelter"})
    for position in range(len(ciphertext)):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        _assert_opaque_failure(lambda t=bytes(tampered): open_field("env-1", "name", t, PRIVATE))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: b"",
        lambda c: c[:-1],
        lambda c: c + b"\x00",
        lambda c: c[:OVERHEAD],
        lambda c: c[: PAD_BLOCK + OVERHEAD - 1],
        lambda c: c + bytes(PAD_BLOCK),
        bytearray,
        lambda c: c.hex(),
    ],
    ids=["empty", "truncated", "extended", "overhead-only", "short-block", "extra-block", "bytearray", "hex"],
)
def test_malformed_ciphertexts_fail_opaquely(mangle: object) -> None:
    assert callable(mangle)
    ciphertext = _seal("x")
    _assert_opaque_failure(lambda: open_field("env-1", "name", mangle(ciphertext), PRIVATE))


@pytest.mark.parametrize("bad_key", [b"", b"\x00" * 31, b"\x00" * 33, "k" * 32, None])
def test_a_malformed_private_key_is_also_just_a_decryption_failure(bad_key: object) -> None:
    ciphertext = _seal("x")
    _assert_opaque_failure(lambda: open_field("env-1", "name", ciphertext, bad_key))  # type: ignore[arg-type]


def _padded(plaintext: bytes) -> bytes:
    return _nacl.sodium_pad(plaintext, PAD_BLOCK)


@pytest.mark.parametrize(
    "inner",
    [
        _padded(b"not json"),
        _padded(b'["env-1","name","x"]'),
        _padded(b'{"e":"env-1","f":"name"}'),  # no value
        _padded(b'{"e":"env-1","f":"name","v":"x","extra":1}'),
        _padded(b'{"e":"env-1","f":"name","v":"x","v":"y"}'),  # duplicate key
        _padded(b'{"f":"name","e":"env-1","v":"x"}'),  # valid JSON, but not canonical
        _padded(b'{"e": "env-1", "f": "name", "v": "x"}'),  # whitespace: not canonical
        _padded(b'{"e":"env-1","f":"name","v":NaN}'),
        b'{"e":"env-1","f":"name","v":"x"}'.ljust(PAD_BLOCK, b"\x00"),  # no 0x80 padding marker
        canonical_json({"e": "env-1", "f": "name", "v": "x"}) + b"\x80" + b"\x01" * 100,  # bad padding
    ],
)
def test_well_sealed_but_malformed_plaintexts_fail_opaquely(inner: bytes) -> None:
    # A sealed box authenticates nothing about the sender: anyone with the public
    # key can seal arbitrary bytes, so the inner format must be checked strictly.
    ciphertext = _raw_seal(inner)
    _assert_opaque_failure(lambda: open_field("env-1", "name", ciphertext, PRIVATE))


def test_a_canonical_hand_sealed_plaintext_opens() -> None:
    # Control for the test above: the same path accepts a correct plaintext.
    inner = _padded(canonical_json({"e": "env-1", "f": "name", "v": "x"}))
    assert open_field("env-1", "name", _raw_seal(inner), PRIVATE) == "x"


# --- sealing input checks and hashes --------------------------------------------------------------


def test_sealing_rejects_values_that_are_not_json() -> None:
    with pytest.raises(TypeError):
        _seal(b"raw bytes")
    with pytest.raises(TypeError):
        _seal({"when": object()})
    with pytest.raises(ValueError):
        _seal(float("nan"))


@pytest.mark.parametrize("bad_key", [b"", b"\x00" * 31, "k" * 32, b"\x00" * 32])
def test_sealing_to_a_malformed_or_low_order_key_raises_invalid_key(bad_key: object) -> None:
    with pytest.raises(InvalidKey):
        seal_field("env-1", "name", "x", bad_key)  # type: ignore[arg-type]


def test_ciphertext_hash_is_sha256_of_the_exact_bytes() -> None:
    ciphertext = _seal("x")
    assert ciphertext_hash(ciphertext) == "sha256:" + hashlib.sha256(ciphertext).hexdigest()
    assert ciphertext_hash(ciphertext) != ciphertext_hash(_seal("x"))
