"""Base64url without padding (RFC 4648 §5), as used by JOSE and our key files.

Decoding is strict: one byte string has exactly one accepted encoding. Padding,
whitespace, characters outside ``A-Z a-z 0-9 - _`` and non-canonical encodings
(unused trailing bits set, e.g. ``"AB"`` instead of ``"AA"`` for ``b"\\x00"``)
are all rejected. Strictness matters because these strings carry keys and
signatures: a lenient decoder would let two different strings stand for the
same signature, which breaks deduplication and "have we seen this?" checks.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64u_decode", "b64u_encode"]

_B64U_RE = re.compile(r"[A-Za-z0-9_-]*")


def b64u_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without ``=`` padding."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("b64u_encode expects bytes")
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode unpadded base64url text.

    Raises :class:`TypeError` if ``text`` is not a ``str`` and
    :class:`ValueError` for any malformed or non-canonical input. (Key-handling
    code in :mod:`crypto.keys` turns that ``ValueError`` into
    :class:`~crypto.errors.InvalidKey`; this function stays key-agnostic.)
    """
    if not isinstance(text, str):
        raise TypeError("b64u_decode expects str")
    # fullmatch (not match + "$"), because "$" also matches before a trailing "\n".
    if _B64U_RE.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("invalid base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - excluded by the checks above
        raise ValueError("invalid base64url") from None
    if b64u_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data
