"""Record ids: a short type prefix and random URL-safe text (``subj_3q2...``).

The prefix says what a bare id names when it shows up in a log line or a support ticket; the
random part (from :mod:`secrets`) makes ids unguessable, so knowing one id tells nothing about
the next. The one id generator of the project: services call :func:`new_id` instead of
writing ``prefix + secrets.token_urlsafe(n)`` again.
"""

from __future__ import annotations

import re
import secrets

__all__ = ["LONG", "SHORT", "new_id"]

SHORT = 12
"""Random bytes of most ids (96 bits: 16 URL-safe characters)."""

LONG = 16
"""Random bytes of the ids of consents, subjects, envelopes and other core records (128 bits: 22 characters)."""

_PREFIX = re.compile(r"[a-z][a-z0-9]{0,7}")


def new_id(prefix: str, *, size: int = LONG) -> str:
    """``prefix + "_" +`` ``size`` random bytes as URL-safe base64 (no padding).

    Raises :class:`ValueError` for a prefix that is not 1-8 lower-case letters and digits
    (starting with a letter), or a size below 12 bytes.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"id prefix must be 1-8 lower-case letters or digits: {prefix!r}")
    if size < SHORT:
        raise ValueError("an id needs at least 12 random bytes")
    return f"{prefix}_{secrets.token_urlsafe(size)}"
