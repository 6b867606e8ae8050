"""The presumption of minority (CH1, CH1b): pure, so it can be tested exhaustively.

A person is processed as a child when

- the day they come of age (``adult_on``: the first day of a month on or after their 18th birthday,
  all the gateway keeps of a date of birth, see :func:`coming_of_age`) has not yet begun, or an
  age band says they are under 18, at the moment of the decision, or
- their age is disputed, until an assessment outcome of ``adult`` is recorded *and* every
  appeal is exhausted (a pending appeal keeps the child policy set, CH1b), or
- nothing about their age is known at all ("where there is doubt ... treated as a child",
  seed 001 line 565).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol

from .vocabulary import CHILD_AGE_BANDS, AgeOutcome, AppealStatus

ADULT_AGE = 18

# The date on the calendar furthest behind UTC (UTC-12). Using it means nobody is treated
# as an adult anywhere on Earth before their 18th birthday has begun where they are.
_WESTERNMOST_OFFSET = timedelta(hours=12)


class AgeFacts(Protocol):
    """The subject attributes the presumption reads."""

    @property
    def adult_on(self) -> date | None: ...
    @property
    def age_band(self) -> str | None: ...
    @property
    def age_disputed(self) -> bool: ...
    @property
    def age_assessment_outcome(self) -> str | None: ...
    @property
    def age_appeal_status(self) -> str: ...


def age_on(date_of_birth: date, day: date) -> int:
    """Completed years on ``day``. A 29 February birthday falls on 1 March in common years."""
    had_birthday = (day.month, day.day) >= (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - (0 if had_birthday else 1)


def eighteenth_birthday(date_of_birth: date) -> date:
    """The first day :func:`age_on` is 18: 29 February -> 1 March in a common year."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + ADULT_AGE)
    except ValueError:  # 29 February, and the 18th birthday falls in a common year
        return date(date_of_birth.year + ADULT_AGE, 3, 1)


def coming_of_age(date_of_birth: date) -> date:
    """The day the gateway stops treating the person as a child: the first day of a month, on or after
    their 18th birthday (the birthday itself when it falls on the 1st).

    The gateway stores this instead of the date of birth (issue 17). Rounding up to a month keeps only
    the year and month of birth, which many people share, where the exact day (or the day shifted by
    18 years) would single a person out. It errs on the side the handbooks ask for: nobody is treated
    as an adult before their 18th birthday, and for at most a month after it they are still treated
    as a child ("where there is doubt ... treated as a child", seed 001 line 565).
    """
    birthday = eighteenth_birthday(date_of_birth)
    if birthday.day == 1:
        return birthday
    return date(birthday.year + (birthday.month == 12), birthday.month % 12 + 1, 1)


def age_from_adult_on(adult_on: date, day: date) -> int:
    """Completed years on ``day`` of someone the gateway stops treating as a child on ``adult_on``
    (for coarse age bands): at most one year less than the exact age, and only in the month
    before a birthday (the month of birth is all that is kept)."""
    return age_on(date(adult_on.year - ADULT_AGE, adult_on.month, 1), day)


def age_dispute_resolved_as_adult(subject: AgeFacts) -> bool:
    """CH1: only an ``adult`` outcome with appeals exhausted ends the dispute's presumption."""
    return (
        subject.age_assessment_outcome == AgeOutcome.ADULT
        and subject.age_appeal_status == AppealStatus.EXHAUSTED
    )


def is_child(subject: AgeFacts, at: datetime) -> bool:
    """Whether ``subject`` is processed under the child policy set at ``at`` (CH1, CH1b)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime refused")
    if subject.age_disputed and not age_dispute_resolved_as_adult(subject):
        return True
    if subject.adult_on is not None:
        local_day = (at - _WESTERNMOST_OFFSET).date()
        if local_day < subject.adult_on:
            return True
    if subject.age_band is not None and subject.age_band in CHILD_AGE_BANDS:
        return True
    # Doubt about age is resolved in favour of childhood: nothing known about the age (no date
    # of birth, no band, no concluded assessment) means child.
    return (
        subject.adult_on is None
        and subject.age_band is None
        and not age_dispute_resolved_as_adult(subject)
    )


def handled_as_child(subject: AgeFacts, at: datetime) -> bool:
    """Whether the child rules apply at ``at``: :func:`is_child`, or the dispute flag still set.

    The same reading as the policy's ``is_child`` (policies/gateway/children.rego), which treats
    ``age_disputed`` as a child whatever else is recorded.
    """
    return is_child(subject, at) or bool(subject.age_disputed)
