"""RFC 8785 canonical JSON and the sha256:<hex> notation."""

from __future__ import annotations

import datetime
import enum
import hashlib
import math
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import MAX_DEPTH, canonical_json, parse_json, sha256_hex


class Colour(enum.StrEnum):
    RED = "red"


class Shape(str, enum.Enum):  # noqa: UP042 - deliberately the old mixin: str(member) is "Shape.ROUND"
    ROUND = "round"


class Size(enum.IntEnum):
    LARGE = 3


def test_canonical_json_sorts_keys_and_strips_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [], "c": None}}) == b'{"a":{"c":null,"d":[]},"b":1}'


def test_canonical_json_uses_ecmascript_number_formatting() -> None:
    # RFC 8785 §3.2.2.3: numbers are written as ECMAScript's Number.toString would.
    assert canonical_json([1.0, 1e21, 0.1, -0.0, 1e-7]) == b"[1,1e+21,0.1,0,1e-7]"


def test_canonical_json_writes_utf8_and_escapes_only_what_it_must() -> None:
    assert canonical_json({"k": 'é\u2028\n"\\'}) == '{"k":"é\u2028\\n\\"\\\\"}'.encode()


def test_canonical_json_sorts_keys_by_utf16_code_units() -> None:
    # U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, though not in code points.
    assert canonical_json({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


def test_key_order_does_not_change_the_bytes() -> None:
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


def test_tuples_mappings_and_str_enums_are_accepted_as_their_json_equivalents() -> None:
    assert canonical_json((1, 2)) == b"[1,2]"
    assert canonical_json(MappingProxyType({"a": Colour.RED})) == b'{"a":"red"}'
    assert canonical_json({Shape.ROUND: Shape.ROUND, "n": Size.LARGE}) == b'{"n":3,"round":"round"}'


@pytest.mark.parametrize(
    "value",
    [
        b"bytes",
        {1, 2},
        datetime.date(2024, 1, 1),
        Decimal("1.5"),
        object(),
        {1: "non-str key"},
        {"nested": [b"x"]},
    ],
)
def test_non_json_types_are_rejected_with_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


def _cycle() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 2**53, -(2**53), "\ud800", _cycle(), _deep(MAX_DEPTH + 1)],
    ids=["nan", "inf", "-inf", "2**53", "-2**53", "lone-surrogate", "cycle", "too-deep"],
)
def test_json_values_jcs_cannot_represent_are_rejected_with_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)


def test_the_largest_safe_integers_are_accepted() -> None:
    assert canonical_json([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


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


@given(json_values)
def test_canonical_json_is_a_fixed_point_of_parse_then_canonicalise(value: object) -> None:
    encoded = canonical_json(value)
    assert canonical_json(parse_json(encoded)) == encoded


# Every code point, surrogates included (a lone one must be refused by both encoders), and
# integers across the I-JSON boundary, so the fast path's hand-over to rfc8785 is exercised.
any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**54), max_value=2**54)
    | st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(list(Colour) + list(Size)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5) | st.sampled_from(["\ufb33", "\U0001f600", "\ue000", "\ud7ff"]),
                          children, max_size=5)
    ),
    max_leaves=20,
)


def _reference(value: object) -> bytes | type[Exception]:
    """The bytes of the rfc8785 package itself (or the error class it raises)."""
    from crypto.canonical import _to_plain

    try:
        return rfc8785.dumps(_to_plain(value, 0, set(), [False]))
    except ValueError:
        return ValueError


@settings(max_examples=2000)
@given(any_values)
def test_the_fast_encoder_writes_exactly_what_rfc8785_writes(value: object) -> None:
    expected = _reference(value)
    if expected is ValueError:
        with pytest.raises(ValueError):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_every_character_is_escaped_as_rfc8785_escapes_it() -> None:
    for code in [*range(0x0, 0x800), 0x2028, 0x2029, 0xD7FF, 0xE000, 0xFEFF, 0xFFFF, 0x10000, 0x10FFFF]:
        text = "a" + chr(code) + "b"
        assert canonical_json({text: text}) == rfc8785.dumps({text: text}), hex(code)


@pytest.mark.parametrize("text", ['{"a":1,"a":2}', "NaN", "[Infinity]", "[-Infinity]", "{", "\xff"])
def test_strict_parser_rejects_duplicate_keys_non_finite_numbers_and_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json(text)


def test_strict_parser_rejects_excessive_nesting() -> None:
    with pytest.raises(ValueError):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ValueError):
        parse_json("[" * 100_000 + "]" * 100_000)


def test_sha256_hex_is_prefixed_lowercase_hex() -> None:
    assert sha256_hex(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
