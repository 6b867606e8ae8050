"""kernel.timestamps.rfc3339 writes what the five formatters it replaced wrote, and refuses naive datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.timestamps import rfc3339


def _exchange_inputs(moment: datetime) -> str:  # gateway/exchange/inputs.py, before
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _consent_receipts(moment: datetime) -> str:  # consent/receipts.py, before
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def _sdk(moment: datetime) -> str:  # connectors/referral.py and connectors/adapters/base.py, before
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones)


@given(aware)
def test_the_same_text_as_every_formatter_it_replaced(moment: datetime) -> None:
    text = rfc3339(moment)
    assert text == _exchange_inputs(moment) == _consent_receipts(moment) == _sdk(moment)
    assert text.endswith("Z") and datetime.fromisoformat(text) == moment


def test_whole_seconds_carry_no_fraction_and_others_six_digits() -> None:
    assert rfc3339(datetime(2026, 12, 8, 1, 6, 50, tzinfo=UTC)) == "2026-12-08T01:06:50Z"
    assert rfc3339(datetime(2026, 12, 8, 1, 6, 50, 250000, tzinfo=UTC)) == "2026-12-08T01:06:50.250000Z"
    east = timezone(timedelta(hours=3))
    assert rfc3339(datetime(2026, 12, 8, 4, 6, 50, tzinfo=east)) == "2026-12-08T01:06:50Z"


@given(st.datetimes())
def test_a_naive_datetime_is_refused_never_guessed(moment: datetime) -> None:
    # The formatter in gateway/exchange/inputs.py read a naive value as the machine's local time.
    with pytest.raises(ValueError, match="naive"):
        rfc3339(moment)
