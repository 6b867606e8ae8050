"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) and content hashes.

Anything we sign or hash as JSON is first serialised with
:func:`canonical_json`, so that two parties holding the same data produce the
same bytes regardless of key order, whitespace or number formatting.

Input rules (stricter than :func:`json.dumps`, by design):

* Accepted: ``None``, ``bool``, ``int``, ``float``, ``str``, mappings with
  ``str`` keys, and ``list``/``tuple``. Subclasses of ``str``/``int``/``float``
  (e.g. ``StrEnum``) are serialised as their base value.
* :class:`TypeError` for anything else (``bytes``, ``set``, ``datetime``,
  ``Decimal``, objects, non-``str`` mapping keys): convert those explicitly
  before signing, so nobody has to guess how they were encoded.
* :class:`ValueError` for values of a JSON type that JCS cannot represent:
  ``NaN``/``±inf``, integers outside ±(2**53 - 1) (I-JSON, RFC 7493), strings
  containing lone surrogates, circular references, nesting deeper than
  :data:`MAX_DEPTH`.

Note that JCS writes ``1.0`` as ``1``: a float that is a whole number comes
back from a round trip as an ``int``.

Speed: values without floats whose object keys all lie below U+D800 (nearly everything
the gateway hashes or signs) are written by the C encoder behind :func:`json.dumps`,
which for those values produces exactly the RFC 8785 bytes (same escapes, integers
as ``str(int)``, keys in code-point order, which equals UTF-16 order below U+D800);
everything else goes through ``rfc8785``. ``tests/crypto/test_crypto_canonical.py``
checks the two byte for byte with hypothesis.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import TypeAlias, cast

import rfc8785

__all__ = ["JSON", "MAX_DEPTH", "canonical_json", "canonical_string", "parse_json", "sha256_hex"]

#: A JSON value as returned by :func:`parse_json` / :func:`crypto.envelope.open_field`.
JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

#: Maximum nesting of arrays/objects accepted by :func:`canonical_json` and :func:`parse_json`.
MAX_DEPTH = 64

_MAX_SAFE_INTEGER = 2**53 - 1


canonical_string: Callable[[str], str] = json.encoder.encode_basestring
"""A ``str`` as an RFC 8785 JSON string (quotes included), in C: escapes exactly what RFC 8785
escapes (quote, backslash and control characters, with the same short forms and lower-case
``\\u00xx``) and writes everything else as it is. Raises :class:`TypeError` for anything but a
``str``; a lone surrogate passes through and fails when the text is encoded to UTF-8. For
code that writes a fixed JSON layout itself (the audit verifier's fast path)."""

# The C encoder json.dumps uses, made once: compact separators, sorted keys, UTF-8 output
# (strings as canonical_string writes them), NaN refused.
_c_encode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]  # NOTE: private C helper, stable since 3.1
    None, None, canonical_string, None, ":", ",", True, False, False
)
_FIRST_SURROGATE = "\ud800"


def _to_plain(value: object, depth: int, active: set[int], fast: list[bool]) -> JSON:
    """Return a copy of ``value`` built only from plain JSON types, or raise.

    Clears ``fast[0]`` when the C encoder would not write the RFC 8785 bytes for it.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:  # the common cases first, by exact type
        return cast(JSON, value)
    if kind is not dict and kind is not list:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            value = int(value)
            if not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
                fast[0] = False
            return value
        if isinstance(value, float):
            fast[0] = False
            return float(value)
        if isinstance(value, str):
            # str.__str__, not str(): for a (str, Enum) mixin str() gives "Cls.MEMBER".
            return str.__str__(value)
    if isinstance(value, (dict, list, tuple, Mapping)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"JSON nesting deeper than {MAX_DEPTH}")
        if id(value) in active:
            raise ValueError("circular reference")
        active.add(id(value))
        try:
            if isinstance(value, (dict, Mapping)):
                out: dict[str, JSON] = {}
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
                    if not key.isascii() and max(key) >= _FIRST_SURROGATE:
                        fast[0] = False  # UTF-16 order differs from code-point order here
                    out[str.__str__(key)] = _to_plain(item, depth + 1, active, fast)
                return out
            return [_to_plain(item, depth + 1, active, fast) for item in value]
        finally:
            active.discard(id(value))
    raise TypeError(f"{type(value).__name__} is not a JSON type")


def canonical_json(obj: object) -> bytes:
    """Serialise ``obj`` per RFC 8785 (JCS) and return UTF-8 bytes.

    Raises :class:`TypeError` for non-JSON types and :class:`ValueError` for
    JSON values JCS cannot represent (see the module docstring).
    """
    fast = [True]
    plain = _to_plain(obj, 0, set(), fast)
    if fast[0]:
        try:
            return "".join(_c_encode(plain, 0)).encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 names the problem
    # rfc8785 raises CanonicalizationError (a ValueError) for NaN/inf, big
    # integers and lone surrogates; we let those through as ValueError.
    return rfc8785.dumps(plain)


def _reject_duplicates(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate JSON object key")
        out[key] = value
    return out


def _reject_constant(name: str) -> JSON:
    raise ValueError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    # JCS writes whole floats without a fraction or exponent below 1e21
    # (e.g. 2.0**60 -> "1152921504606846976"). Read such out-of-I-JSON-range
    # integers back as the floats they were, so that parse -> canonicalise
    # reproduces the original bytes instead of failing on a "too big" int.
    value = int(text)
    if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return value
    as_float = float(text)
    if math.isinf(as_float):
        raise ValueError("number out of range")
    return as_float


def _depth(value: JSON) -> int:
    # Iterative, so a hostile document cannot exhaust the Python stack here.
    deepest = 0
    stack: list[tuple[JSON, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: list[JSON] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(data: bytes | str) -> JSON:
    """Parse JSON strictly: reject duplicate keys, ``NaN``/``Infinity`` and excessive nesting.

    Integers beyond ±(2**53 - 1) are returned as ``float`` (the I-JSON reading
    of a JSON number), so ``canonical_json(parse_json(canonical_json(x)))``
    always equals ``canonical_json(x)``.

    Raises :class:`ValueError` on any problem (``json.JSONDecodeError`` and
    ``UnicodeDecodeError`` are ``ValueError`` subclasses). Used for plaintexts
    and JWS payloads, where a lenient parser (last duplicate key wins) could
    let two readers see different values in the same signed bytes.
    """
    try:
        value: JSON = json.loads(
            data,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"JSON nesting deeper than {MAX_DEPTH}")
    return value


def sha256_hex(data: bytes) -> str:
    """Return ``"sha256:" + hex(SHA-256(data))``, the project's content-hash notation."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("sha256_hex expects bytes")
    return "sha256:" + hashlib.sha256(data).hexdigest()
