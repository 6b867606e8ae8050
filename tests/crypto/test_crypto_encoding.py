"""Strict base64url (RFC 4648 §5) without padding."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import b64u_decode, b64u_encode


@given(st.binary(max_size=200))
def test_base64url_round_trips_any_bytes(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64u_decode(text) == data


def test_encoding_matches_the_standard_library_minus_padding() -> None:
    data = bytes(range(256))
    assert b64u_encode(data) == base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "AA==",  # padding
        "AA=",
        "A",  # impossible length
        "AAAAA",
        "AA AA",  # whitespace
        "AAAA\n",
        "+/AA",  # standard (not url-safe) alphabet
        "AB",  # non-canonical: unused trailing bits set (b"\x00" is "AA")
        "AAB",  # non-canonical for 2 bytes
        "é",
    ],
)
def test_decoding_rejects_malformed_or_non_canonical_text_with_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        b64u_decode(bad)


def test_decoding_rejects_non_str_with_type_error() -> None:
    with pytest.raises(TypeError):
        b64u_decode(b"AAAA")  # type: ignore[arg-type]


def test_empty_string_is_empty_bytes() -> None:
    assert b64u_encode(b"") == ""
    assert b64u_decode("") == b""
