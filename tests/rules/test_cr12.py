"""CR12: no deadline, reminder or pressure toward criminal-justice consent during recovery and reflection.

The gateway's only clocks are the NRM timers (gateway/nrm/timers.py). They read no criminal-justice
consent or co-operation status, and no alert they raise is about criminal justice: a case's
timers run identically whatever the person decides about co-operating (seed 001 line 6575).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.nrm import timers

REPO = Path(__file__).resolve().parents[2]
CRIMINAL = re.compile(r"criminal|cj_|co_?operat|police|prosecut", re.IGNORECASE)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
times = st.one_of(st.none(), st.integers(0, 200).map(lambda h: T0 + timedelta(hours=h)))


@pytest.mark.rule("CR12")
def test_the_timers_read_nothing_about_criminal_justice_and_raise_nothing_about_it() -> None:
    inputs = {f.name for f in dataclasses.fields(timers.CaseTimes)}
    assert not [name for name in inputs if CRIMINAL.search(name)]
    assert not [kind for kind in timers.AlertKind if CRIMINAL.search(kind.value)]
    for module in ("gateway/nrm/timers.py", "gateway/scheduler.py", "gateway/periodic.py"):
        code = "\n".join(line for line in (REPO / module).read_text(encoding="utf-8").splitlines()
                         if not line.lstrip().startswith("#"))
        assert not CRIMINAL.search(code), module


@pytest.mark.rule("CR12")
@given(child=st.booleans(), referred=times, outcome=st.sampled_from([None, "positive", "negative"]),
       decided=times, stage2=st.sampled_from([None, "positive"]), since=times, days=st.integers(0, 400))
def test_no_alert_ever_concerns_criminal_justice(child: bool, referred: datetime | None, outcome: str | None,
                                                 decided: datetime | None, stage2: str | None,
                                                 since: datetime | None, days: int) -> None:
    case = timers.CaseTimes(child_at_referral=child, child_at_stage1=child, referred_at=referred,
                            stage1_outcome=outcome, stage1_decided_at=decided, stage2_outcome=stage2,
                            guardian_advocate_since=since, accommodation_since=since)
    for alert in timers.due_alerts(case, T0 + timedelta(days=days)):
        assert not CRIMINAL.search(alert.kind.value) and alert.rule != "CR36"
        assert not any(CRIMINAL.search(m) for m in alert.missing)
