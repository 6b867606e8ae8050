"""Ed25519 signatures over bytes and canonical JSON documents."""

from __future__ import annotations

import pytest

from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import InvalidKey, InvalidSignature
from crypto.keys import generate_signing_seed, signing_public_key
from crypto.signing import sign, sign_document, verify, verify_document

SEED = generate_signing_seed()
PUBLIC = signing_public_key(SEED)

# RFC 8032 §7.1 TEST 1: secret key, public key, empty message, signature.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _flip_bit(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_signature_matches_rfc8032_test_vector() -> None:
    assert sign(RFC8032_SEED, b"") == RFC8032_SIGNATURE
    verify(RFC8032_PUBLIC, b"", RFC8032_SIGNATURE)


def test_signatures_are_64_bytes_deterministic_and_verify() -> None:
    signature = sign(SEED, b"referral 42")
    assert len(signature) == 64
    assert sign(SEED, b"referral 42") == signature
    verify(PUBLIC, b"referral 42", signature)


def test_signature_fails_on_any_flipped_bit_of_the_signature() -> None:
    message = b"referral 42"
    signature = sign(SEED, message)
    for bit in range(len(signature) * 8):
        with pytest.raises(InvalidSignature):
            verify(PUBLIC, message, _flip_bit(signature, bit))


def test_signature_fails_on_any_flipped_bit_of_the_message() -> None:
    message = b"consent granted for agency B"
    signature = sign(SEED, message)
    for bit in range(len(message) * 8):
        with pytest.raises(InvalidSignature):
            verify(PUBLIC, _flip_bit(message, bit), signature)


def test_signature_fails_on_any_flipped_byte_of_the_public_key() -> None:
    signature = sign(SEED, b"m")
    for position in range(32):
        with pytest.raises(InvalidSignature):
            verify(_flip_bit(PUBLIC, position * 8), b"m", signature)


def test_signature_fails_under_another_key() -> None:
    with pytest.raises(InvalidSignature):
        verify(signing_public_key(generate_signing_seed()), b"m", sign(SEED, b"m"))


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (PUBLIC[:31], sign(SEED, b"m")),
        (PUBLIC, sign(SEED, b"m")[:63]),
        (PUBLIC, sign(SEED, b"m") + b"\x00"),
        (PUBLIC, b""),
        ("not bytes", sign(SEED, b"m")),
        (bytes(32), bytes(64)),  # small-order key, all-zero signature
    ],
)
def test_malformed_keys_or_signatures_are_invalid_signatures(public: object, signature: object) -> None:
    with pytest.raises(InvalidSignature):
        verify(public, b"m", signature)  # type: ignore[arg-type]


def test_signing_with_a_malformed_seed_is_an_invalid_key() -> None:
    with pytest.raises(InvalidKey):
        sign(b"short", b"m")


DOC = {
    "type": "referral-manifest/v1",
    "envelope": "env-1",
    "fields": {"name": "sha256:ab", "dob": "sha256:cd"},
}


def test_document_signature_ignores_key_order_and_verifies() -> None:
    signature = sign_document(SEED, DOC)
    reordered = {
        "fields": {"dob": "sha256:cd", "name": "sha256:ab"},
        "envelope": "env-1",
        "type": DOC["type"],
    }
    verify_document(PUBLIC, reordered, signature)
    assert len(b64u_decode(signature)) == 64


@pytest.mark.parametrize(
    "changed",
    [
        {**DOC, "envelope": "env-2"},
        {**DOC, "extra": True},
        {k: v for k, v in DOC.items() if k != "type"},
        {**DOC, "fields": {"name": "sha256:ab", "dob": "sha256:ce"}},
    ],
)
def test_document_signature_fails_for_any_change_to_the_document(changed: dict[str, object]) -> None:
    with pytest.raises(InvalidSignature):
        verify_document(PUBLIC, changed, sign_document(SEED, DOC))


def test_document_signature_fails_on_any_flipped_bit() -> None:
    raw = b64u_decode(sign_document(SEED, DOC))
    for bit in range(len(raw) * 8):
        with pytest.raises(InvalidSignature):
            verify_document(PUBLIC, DOC, b64u_encode(_flip_bit(raw, bit)))


@pytest.mark.parametrize("signature", ["", "not base64!", "AA==", 42, None])
def test_malformed_document_signatures_are_invalid_signatures(signature: object) -> None:
    with pytest.raises(InvalidSignature):
        verify_document(PUBLIC, DOC, signature)  # type: ignore[arg-type]


def test_documents_jcs_cannot_represent_fail_as_invalid_signature() -> None:
    with pytest.raises(InvalidSignature):
        verify_document(PUBLIC, {"n": float("nan")}, sign_document(SEED, DOC))


def test_documents_with_non_json_types_are_programming_errors() -> None:
    with pytest.raises(TypeError):
        sign_document(SEED, {"when": object()})
    with pytest.raises(TypeError):
        verify_document(PUBLIC, {"raw": b"bytes"}, sign_document(SEED, DOC))
