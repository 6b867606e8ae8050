"""The presumption of minority (CH1, CH1b), property-tested with hypothesis."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import is_child
from consent.age import age_from_adult_on, age_on, coming_of_age
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


def eighteenth_birthday(dob: date) -> date:
    try:
        return dob.replace(year=dob.year + 18)
    except ValueError:  # 29 February -> 1 March in a common year
        return date(dob.year + 18, 3, 1)


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC))
dobs = st.dates(min_value=date(1950, 1, 1), max_value=date(2055, 12, 31))
outcomes = st.sampled_from([None, *AgeOutcome])
appeals = st.sampled_from(list(AppealStatus))
bands = st.sampled_from([None, *AgeBand])


@pytest.mark.rule("CH1")
@given(dob=dobs, at=moments)
def test_ch1_under_18_by_date_of_birth_is_a_child(dob: date, at: datetime) -> None:
    """CH1: a child is anyone under 18, wherever on Earth their birthday has not yet begun."""
    child = is_child(Facts(date_of_birth=dob), at)
    earliest_local_day = (at - timedelta(hours=12)).date()
    assert child == (earliest_local_day < eighteenth_birthday(dob))
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


@given(dob=dobs, day=st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31)))
def test_the_day_of_coming_of_age_decides_as_the_date_of_birth_did(dob: date, day: date) -> None:
    """Issue 17: the gateway keeps ``coming_of_age(dob)``, not the date of birth; CH1 decides the same
    (under 18 on a day exactly when the day is before it), and the age for statistics' bands is exact
    except a 29 February birthday on 29 February (a band edge one day late)."""
    assert (age_on(dob, day) < 18) == (day < coming_of_age(dob))
    if not (dob.month == 2 and dob.day == 29):
        assert age_from_adult_on(coming_of_age(dob), day) == age_on(dob, day)
    else:
        assert age_on(dob, day) - age_from_adult_on(coming_of_age(dob), day) in (0, 1)
