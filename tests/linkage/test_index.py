"""The gateway's packed index gives exactly anonlink's Dice coefficients, and counts its work."""

from __future__ import annotations

import base64
import random
import warnings
from datetime import date

import pytest
from bitarray import bitarray
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.linkage import LinkageSecret, PersonIdentifiers, encode
from gateway.errors import Unprocessable
from gateway.linkage.index import KEY_BYTES, KeyIndex
from gateway.linkage.service import _decode_key

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from anonlink.similarities import dice_coefficient_python


def _key(rng: random.Random) -> bytes:
    return rng.randbytes(KEY_BYTES)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=2**32),
       st.floats(min_value=0.3, max_value=0.9))
def test_the_native_kernel_agrees_with_anonlinks_python_dice(count: int, seed: int, threshold: float) -> None:
    rng = random.Random(seed)
    stored = [_key(rng) for _ in range(count)]
    probe = stored[rng.randrange(count)] if rng.random() < 0.5 else _key(rng)
    index = KeyIndex("e")
    for seq, clk in enumerate(stored, start=1):
        index.add(seq, "agency", f"s{seq}", clk)
    found = index.search(probe, threshold, limit=count)

    def bits(raw: bytes) -> bitarray:
        b = bitarray()
        b.frombytes(raw)
        return b

    sims, (_, indices) = dice_coefficient_python([[bits(probe)], [bits(k) for k in stored]], threshold)
    expected = sorted(((round(s, 9), i + 1) for s, i in zip(sims, indices, strict=True)), key=lambda x: (-x[0], x[1]))
    assert [(round(c.strength, 9), c.seq) for c in found] == expected
    assert index.compared == count


def test_keys_of_the_wrong_size_are_refused() -> None:
    index = KeyIndex("e")
    with pytest.raises(ValueError, match="256 bytes"):
        index.add(1, "a", "s", b"\x00" * 10)
    with pytest.raises(ValueError, match="256 bytes"):
        index.search(b"\x00" * 10, 0.5)
    assert index.search(b"\x00" * KEY_BYTES, 0.5) == []


def test_an_entry_already_held_is_not_added_twice() -> None:
    index = KeyIndex("e")
    index.add(7, "a", "s", b"\x01" * KEY_BYTES)
    index.add(7, "a", "s", b"\x01" * KEY_BYTES)
    assert len(index) == 1


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())))
def test_a_submitted_key_is_either_a_balanced_256_byte_key_or_a_precise_refusal(clk: str) -> None:
    try:
        raw = _decode_key(clk)
    except Unprocessable as refused:
        assert refused.reason == "linkage_key_invalid" and refused.status == 422
    else:
        assert len(raw) == KEY_BYTES and int.from_bytes(raw, "big").bit_count() == KEY_BYTES * 4


def test_the_balanced_key_the_sdk_makes_is_accepted() -> None:
    key = encode(PersonIdentifiers(names=("Amina Bakri",), birth_date=date(2001, 3, 14)), LinkageSecret.generate("e"))
    assert _decode_key(key.b64) == base64.b64decode(key.b64)
