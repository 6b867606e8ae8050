"""Encryption at rest: round trip, bound to its row and key, every failure the same opaque error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.at_rest import PREFIX, derive_key, open_text, seal_text
from crypto.errors import DecryptionFailed

SEED = bytes(range(32))
KEY = derive_key(SEED, "portal-request-message")


@given(text=st.text(max_size=2000), where=st.text(min_size=1, max_size=64))
def test_seal_then_open_returns_the_text(text: str, where: str) -> None:
    sealed = seal_text(KEY, text, where=where)
    assert sealed.startswith(PREFIX)
    assert open_text(KEY, sealed, where=where) == text


@pytest.mark.rule("SEC3")
def test_two_seals_of_one_text_differ_and_hide_it() -> None:
    first, second = (seal_text(KEY, "my address is 12 Elm St", where="req_1") for _ in range(2))
    assert first != second
    assert "Elm" not in first


def test_labels_and_seeds_give_independent_keys() -> None:
    assert derive_key(SEED, "a") != derive_key(SEED, "b")
    assert derive_key(SEED, "a") != derive_key(bytes(32), "a")
    assert len(derive_key(SEED, "a")) == 32
    with pytest.raises(ValueError):
        derive_key(b"short", "a")


@pytest.mark.parametrize("change", ["where", "key", "flip", "prefix", "truncate", "garbage"])
def test_any_change_fails_with_the_same_error(change: str) -> None:
    sealed = seal_text(KEY, "text", where="req_1")
    key, where = KEY, "req_1"
    if change == "where":
        where = "req_2"
    elif change == "key":
        key = derive_key(SEED, "another-use")
    elif change == "flip":
        body = sealed[len(PREFIX):]
        sealed = PREFIX + body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]
    elif change == "prefix":
        sealed = "sr0." + sealed[len(PREFIX):]
    elif change == "truncate":
        sealed = sealed[:20]
    else:
        sealed = PREFIX + "!!not base64!!"
    with pytest.raises(DecryptionFailed):
        open_text(key, sealed, where=where)
