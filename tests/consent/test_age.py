"""The presumption of minority (CH1, CH1b), property-tested with hypothesis."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import is_child
from consent.age import age_from_adult_on, age_on, coming_of_age, eighteenth_birthday
from consent.vocabulary import CHILD_AGE_BANDS, AgeBand, AgeOutcome, AppealStatus


@dataclass(frozen=True)
class Facts:
    """What the gateway stores: given a date of birth, only the day the person comes of age."""

    date_of_birth: dataclasses.InitVar[date | None] = None
    age_band: str | None = None
    age_disputed: bool = False
    age_assessment_outcome: str | None = None
    age_appeal_status: str = AppealStatus.NONE
    adult_on: date | None = None

    def __post_init__(self, date_of_birth: date | None) -> None:
        if date_of_birth is not None:
            object.__setattr__(self, "adult_on", coming_of_age(date_of_birth))


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC))
dobs = st.dates(min_value=date(1950, 1, 1), max_value=date(2055, 12, 31))
outcomes = st.sampled_from([None, *AgeOutcome])
appeals = st.sampled_from(list(AppealStatus))
bands = st.sampled_from([None, *AgeBand])


@pytest.mark.rule("CH1")
@given(dob=dobs, at=moments)
def test_ch1_under_18_by_date_of_birth_is_a_child(dob: date, at: datetime) -> None:
    """CH1: a child is anyone under 18, wherever on Earth their birthday has not yet begun (and, as
    the gateway keeps only the month, until the month after it ends, issue 17)."""
    child = is_child(Facts(date_of_birth=dob), at)
    earliest_local_day = (at - timedelta(hours=12)).date()
    assert child == (earliest_local_day < coming_of_age(dob))
    if earliest_local_day < eighteenth_birthday(dob):
        assert child
    if child:
        # Never an adult before the 18th birthday in UTC either.
        assert at.date() < eighteenth_birthday(dob) + timedelta(days=1)


@pytest.mark.rule("CH1", "CH1b")
@given(dob=st.one_of(st.none(), dobs), band=bands, outcome=outcomes, appeal=appeals, at=moments)
def test_ch1_ch1b_disputed_age_is_a_child_until_adult_outcome_and_appeals_exhausted(
    dob: date | None, band: str | None, outcome: str | None, appeal: str, at: datetime
) -> None:
    """CH1/CH1b: while the age is disputed, only outcome=adult AND appeals=exhausted lifts the presumption."""
    facts = Facts(date_of_birth=dob, age_band=band, age_disputed=True, age_assessment_outcome=outcome,
                  age_appeal_status=appeal)
    resolved = outcome == AgeOutcome.ADULT and appeal == AppealStatus.EXHAUSTED
    if not resolved:
        assert is_child(facts, at)
    else:
        # Resolved disputes fall back to what the dates say (a recorded minor age still wins).
        undisputed = Facts(date_of_birth=dob, age_band=band, age_assessment_outcome=outcome, age_appeal_status=appeal)
        assert is_child(facts, at) == is_child(undisputed, at)


@pytest.mark.rule("CH1b")
def test_ch1b_pending_appeal_keeps_the_child_policy_set() -> None:
    """CH1b: outcome adult but appeal pending -> still a child."""
    at = datetime(2026, 11, 24, tzinfo=UTC)
    facts = Facts(age_band="18-24", age_disputed=True, age_assessment_outcome="adult", age_appeal_status="pending")
    assert is_child(facts, at)
    assert not is_child(Facts(age_band="18-24", age_disputed=True, age_assessment_outcome="adult",
                              age_appeal_status="exhausted"), at)


@pytest.mark.rule("CH1")
@given(band=st.sampled_from(list(AgeBand)), at=moments)
def test_ch1_age_bands(band: AgeBand, at: datetime) -> None:
    """CH1: a band under 18 is a child; an adult band is not (when nothing else says child)."""
    assert is_child(Facts(age_band=band), at) == (band in CHILD_AGE_BANDS)


@pytest.mark.rule("CH1")
def test_ch1_nothing_known_about_age_means_child() -> None:
    """CH1 (seed 001 line 565): doubt about age -> treated as a child."""
    at = datetime(2026, 11, 24, tzinfo=UTC)
    assert is_child(Facts(), at)
    assert not is_child(Facts(age_assessment_outcome="adult", age_appeal_status="exhausted"), at)


@pytest.mark.rule("CH1")
@given(dob=dobs, at=moments, later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20000)))
def test_ch1_adulthood_is_never_lost_as_time_passes(dob: date, at: datetime, later: timedelta) -> None:
    if not is_child(Facts(date_of_birth=dob), at):
        assert not is_child(Facts(date_of_birth=dob), at + later)


def test_age_on_leap_day() -> None:
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_naive_moment_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_child(Facts(), datetime(2026, 1, 1))


@pytest.mark.rule("CH1")
@given(dob=dobs, day=st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31)))
def test_coming_of_age_never_makes_a_child_an_adult_and_keeps_only_the_month(dob: date, day: date) -> None:
    """Issue 17: the gateway keeps ``coming_of_age(dob)``, not the date of birth. CH1 never treats a
    person under 18 as an adult; it keeps treating them as a child for less than a month after their
    18th birthday; what it keeps is the same for everyone born in the same month (from the 2nd on);
    and the age for statistics' bands is at most a year short."""
    adult_on = coming_of_age(dob)
    if age_on(dob, day) < 18:
        assert day < adult_on
    else:
        assert day >= adult_on or (adult_on - eighteenth_birthday(dob)).days < 31
    assert adult_on.day == 1 and 0 <= (adult_on - eighteenth_birthday(dob)).days < 31
    if dob.day > 1 and not (dob.month == 2 and dob.day == 29):
        assert coming_of_age(dob.replace(day=2)) == adult_on
    assert age_on(dob, day) - age_from_adult_on(adult_on, day) in (0, 1)
