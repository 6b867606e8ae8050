"""Bounds on what a query may name, so an out-of-range value is a 422, never a 500.

The databases store integers as signed 64-bit values and times as UTC: a sequence number past
2**63 - 1, or a time whose UTC equivalent falls outside years 1 to 9999 (year 1 at +01:00),
cannot even be compared with a stored one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .errors import Unprocessable

INT64_MAX = 2**63 - 1


def utc_query_time(moment: datetime | None) -> datetime | None:
    """A query time in UTC (without an offset it is read as UTC); 422 ``time_out_of_range`` if it has none."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise Unprocessable("time_out_of_range",
                            "The time has no UTC equivalent between years 1 and 9999.") from None
