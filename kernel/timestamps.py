"""RFC 3339 timestamps as the project writes them on the wire: UTC, a ``Z``, fractions only when set.

``2026-12-08T01:06:50Z`` for a whole second, ``2026-12-08T01:06:50.250000Z`` otherwise (six
digits, as :meth:`datetime.isoformat` writes them). A naive datetime is refused, never guessed
to be local or UTC time: the same instant must always give the same text, on any machine.

Two other timestamp forms are formats of their own, kept where they are defined: a signed
checkpoint's fixed milliseconds (:func:`crypto.checkpoint.format_timestamp`) and an audit
entry's ``datetime.isoformat()`` with ``+00:00`` (part of the leaf encoding, which may not change).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["rfc3339"]


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with a ``Z``; whole seconds when there is no fraction.

    Raises :class:`ValueError` for a naive datetime.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime refused")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
