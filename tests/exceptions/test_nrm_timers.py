"""NRM deadlines: S37 (a child's entitlements within 24 hours of a positive Stage 1), S38 (Stage 1
within 5 days, the 90-day reminders), CH14 (Stage 1 within 48 hours for a child)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.cli import app
from gateway.context import GatewayContext
from gateway.exceptions.models import AgencyNotice
from gateway.nrm.models import SlaAlert
from gateway.nrm.service import run_timers
from gateway.nrm.timers import AlertKind, Audience, CaseTimes, due_alerts
from gateway.registry.models import AgencyKind
from gateway.scheduler import ScheduledJobs
from tests.conftest import T0, Registry, register
from tests.consent.conftest import subject_body
from tests.exceptions.conftest import Auth
from tests.support.pseudonyms import subject_of

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def nrm(ctx: GatewayContext, registry: Registry) -> Registry:
    """An NRM co-ordinator (competent authority) and a monitoring body are registered."""
    for agency_id, kind in (("nrm-ca", AgencyKind.COMPETENT_AUTHORITY), ("monitor", AgencyKind.MONITORING_BODY)):
        registry.keys[agency_id], registry.key_ids[agency_id] = register(ctx, agency_id, kind)
    return registry


def _subject(client: TestClient, auth: Auth, **attributes: Any) -> str:
    response = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body(**attributes))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _change(client: TestClient, auth: Auth, subject_id: str, **changes: Any) -> Any:
    return client.post(f"/v1/subjects/{subject_id}/attributes", headers=auth("ngo"),
                       json={"changes": changes, "reason": "nrm_decision"})


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _alerts(ctx: GatewayContext, subject_id: str) -> list[SlaAlert]:
    with ctx.sessions() as session:
        return list(session.scalars(select(SlaAlert).where(SlaAlert.subject_id == subject_id)
                                    .order_by(SlaAlert.kind)))


@pytest.mark.rule("S37", "CH14")
def test_a_child_without_guardian_advocate_and_accommodation_24_hours_after_stage1_raises_an_sla_breach(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    subject_id = _subject(client, auth, age_band="12-15", nrm_referred_at=_iso(T0 - 6 * HOUR),
                          stage1_outcome="positive", stage1_decided_at=_iso(T0))
    assert run_timers(ctx.sessions, T0 + 24 * HOUR - timedelta(seconds=1)) == []
    raised = run_timers(ctx.sessions, T0 + 24 * HOUR)
    assert [(a["kind"], a["rule"]) for a in raised] == [("child_entitlements_overdue", "S37")]
    assert raised[0]["missing"] == ["guardian_advocate", "accommodation"]
    assert raised[0]["notified"] == ["monitor", "ngo", "nrm-ca"]
    # Exactly once: the next round finds it already raised.
    assert run_timers(ctx.sessions, T0 + 30 * HOUR) == []
    assert len(_alerts(ctx, subject_id)) == 1
    with ctx.sessions() as session:
        notices = list(session.scalars(select(AgencyNotice).where(AgencyNotice.kind == "child_entitlements_overdue")))
        assert sorted(n.agency_id for n in notices) == ["monitor", "ngo", "nrm-ca"]
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "nrm:sla:alert")).one()
    assert subject_of(ctx, entry.subject_id) == subject_id and entry.reason == "child_entitlements_overdue"
    assert entry.details["missing"] == ["guardian_advocate", "accommodation"]
    # The monitoring body sees it through its notices.
    seen = client.get("/v1/exceptions/notices", headers=auth("monitor")).json()
    assert [n["kind"] for n in seen] == ["child_entitlements_overdue"]


@pytest.mark.rule("S37", "CH14")
def test_guardian_advocate_and_accommodation_recorded_in_time_raise_nothing_but_late_ones_do(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    in_time = _subject(client, auth, age_band="12-15", nrm_referred_at=_iso(T0 - HOUR),
                       stage1_outcome="positive", stage1_decided_at=_iso(T0))
    late = _subject(client, auth, age_band="12-15", nrm_referred_at=_iso(T0 - HOUR),
                    stage1_outcome="positive", stage1_decided_at=_iso(T0))
    clock.set(T0 + 5 * HOUR)
    assert _change(client, auth, in_time, guardian_advocate_id="ga-1", placement_agency_id="shelter").status_code == 200
    assert _change(client, auth, late, guardian_advocate_id="ga-2").status_code == 200
    clock.set(T0 + 30 * HOUR)
    assert _change(client, auth, late, placement_agency_id="shelter").status_code == 200
    raised = run_timers(ctx.sessions, T0 + 31 * HOUR)
    assert [(a["subject_id"], a["missing"]) for a in raised] == [(late, ["accommodation"])]
    assert _alerts(ctx, in_time) == []


@pytest.mark.rule("S37")
def test_a_placement_in_place_by_the_deadline_counts_even_if_the_child_moved_later(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    subject_id = _subject(client, auth, age_band="12-15", nrm_referred_at=_iso(T0 - HOUR), stage1_outcome="positive",
                          stage1_decided_at=_iso(T0), guardian_advocate_id="ga-1", placement_agency_id="shelter")
    clock.set(T0 + 3 * DAY)
    assert _change(client, auth, subject_id, placement_agency_id="clinic").status_code == 200
    assert run_timers(ctx.sessions, T0 + 4 * DAY) == []


@pytest.mark.rule("S37")
def test_alerts_reach_only_the_nrm_bodies_of_the_owners_jurisdiction(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext
) -> None:
    for agency_id, kind in (("ca-abroad", AgencyKind.COMPETENT_AUTHORITY), ("monitor-abroad",
                                                                             AgencyKind.MONITORING_BODY)):
        nrm.keys[agency_id], nrm.key_ids[agency_id] = register(ctx, agency_id, kind, jurisdiction="ER")
    _subject(client, auth, age_band="12-15", nrm_referred_at=_iso(T0 - HOUR), stage1_outcome="positive",
             stage1_decided_at=_iso(T0))
    raised = run_timers(ctx.sessions, T0 + 2 * DAY)
    assert [a["notified"] for a in raised] == [["monitor", "ngo", "nrm-ca"]]
    assert client.get("/v1/exceptions/notices", headers=auth("ca-abroad")).json() == []


@pytest.mark.rule("CH14")
def test_a_child_at_referral_keeps_the_48_hour_deadline_after_turning_18(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext
) -> None:
    turns_18 = (T0 + DAY).date().replace(year=(T0 + DAY).year - 18)
    _subject(client, auth, date_of_birth=turns_18.isoformat(), age_band=None, nrm_referred_at=_iso(T0))
    raised = run_timers(ctx.sessions, T0 + 48 * HOUR)
    assert [(a["kind"], a["rule"]) for a in raised] == [("stage1_decision_overdue", "CH14")]


@pytest.mark.rule("S38")
def test_an_adult_stage1_decision_is_due_within_5_days(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext
) -> None:
    subject_id = _subject(client, auth, nrm_referred_at=_iso(T0))
    assert run_timers(ctx.sessions, T0 + 5 * DAY - timedelta(seconds=1)) == []
    raised = run_timers(ctx.sessions, T0 + 5 * DAY)
    assert [(a["kind"], a["rule"], a["due_at"]) for a in raised] == [("stage1_decision_overdue", "S38", T0 + 5 * DAY)]
    assert raised[0]["notified"] == ["monitor", "ngo", "nrm-ca"]
    assert len(_alerts(ctx, subject_id)) == 1


@pytest.mark.rule("CH14")
def test_a_childs_stage1_decision_is_due_within_48_hours(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext
) -> None:
    _subject(client, auth, age_band="12-15", nrm_referred_at=_iso(T0))
    assert run_timers(ctx.sessions, T0 + 47 * HOUR) == []
    assert [(a["kind"], a["rule"]) for a in run_timers(ctx.sessions, T0 + 48 * HOUR)] == [
        ("stage1_decision_overdue", "CH14")]


@pytest.mark.rule("S38")
def test_90_days_after_a_positive_stage1_without_stage2_the_extension_and_permit_reminders_fire(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    clock.set(T0 + 3 * DAY)
    decided = T0 + 3 * DAY
    waiting = _subject(client, auth, nrm_referred_at=_iso(T0), stage1_outcome="positive",
                       stage1_decided_at=_iso(decided))
    concluded = _subject(client, auth, nrm_referred_at=_iso(T0), stage1_outcome="positive",
                         stage1_decided_at=_iso(decided))
    stage2 = _change(client, auth, concluded, stage2_outcome="positive", stage2_decided_at=_iso(decided))
    assert stage2.status_code == 200, stage2.text
    assert run_timers(ctx.sessions, decided + 90 * DAY - HOUR) == []
    raised = run_timers(ctx.sessions, decided + 90 * DAY)
    assert sorted((a["subject_id"], a["kind"]) for a in raised) == [
        (waiting, "interim_permit_reminder"), (waiting, "recovery_period_extension_due")]
    # The owner and the NRM co-ordinator are told; the monitoring body only of breaches.
    assert {tuple(a["notified"]) for a in raised} == {("ngo", "nrm-ca")}


@pytest.mark.rule("S38")
def test_the_scheduled_jobs_raise_due_alerts(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext, clock: FixedClock
) -> None:
    subject_id = _subject(client, auth, nrm_referred_at=_iso(T0))
    clock.set(T0 + 6 * DAY)
    jobs = ScheduledJobs(ctx)
    assert jobs.run_once()["nrm_alerts"] == 1
    assert jobs.run_once()["nrm_alerts"] == 0
    assert [a.kind for a in _alerts(ctx, subject_id)] == ["stage1_decision_overdue"]


@pytest.mark.rule("S38")
@pytest.mark.parametrize(("changes", "reason"), [
    ({"nrm_referred_at": "2026-11-20T10:00:00Z", "stage1_outcome": "positive"}, "nrm_outcome_needs_time"),
    ({"stage1_outcome": "positive", "stage1_decided_at": "2026-11-20T10:00:00Z"}, "nrm_stage1_before_referral"),
    ({"nrm_referred_at": "2026-11-20T10:00:00Z", "stage1_outcome": "negative",
      "stage1_decided_at": "2026-11-21T10:00:00Z", "stage2_outcome": "positive",
      "stage2_decided_at": "2026-11-22T10:00:00Z"}, "nrm_stage2_without_positive_stage1"),
    ({"nrm_referred_at": "2026-11-20T10:00:00Z", "stage1_outcome": "positive",
      "stage1_decided_at": "2026-11-19T10:00:00Z"}, "nrm_stage1_before_referral"),
    ({"nrm_referred_at": "2026-12-20T10:00:00Z"}, "nrm_time_in_future"),
])
def test_inconsistent_nrm_stage_times_are_refused_with_a_reason(
    client: TestClient, auth: Auth, nrm: Registry, changes: dict[str, Any], reason: str
) -> None:
    subject_id = _subject(client, auth)
    response = _change(client, auth, subject_id, **changes)
    assert response.status_code == 422, response.text
    assert reason in response.text
    assert client.get(f"/v1/subjects/{subject_id}", headers=auth("ngo")).json()["nrm_referred_at"] is None


def test_naive_nrm_times_are_refused_at_the_edge(client: TestClient, auth: Auth, nrm: Registry) -> None:
    subject_id = _subject(client, auth)
    response = _change(client, auth, subject_id, nrm_referred_at="2026-11-20T10:00:00")
    assert response.status_code == 422, response.text


# ---------------------------------------------------------------- the pure function

_times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
_maybe = st.one_of(st.none(), _times)


@st.composite
def cases(draw: st.DrawFn) -> CaseTimes:
    referred = draw(_maybe)
    outcome = draw(st.sampled_from([None, "positive", "negative"])) if referred else None
    decided = draw(st.datetimes(min_value=referred.replace(tzinfo=None), max_value=datetime(2031, 1, 1),
                                timezones=st.just(UTC))) if outcome and referred else None
    child = draw(st.booleans())
    return CaseTimes(child_at_referral=child, child_at_stage1=child and draw(st.booleans()),
                     referred_at=referred, stage1_outcome=outcome,
                     stage1_decided_at=decided,
                     stage2_outcome=draw(st.sampled_from([None, "positive"])) if outcome == "positive" else None,
                     guardian_advocate_since=draw(_maybe), accommodation_since=draw(_maybe))


@pytest.mark.rule("S37", "S38")
@given(case=cases(), now=_times, later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_timers_never_fire_early_and_once_due_stay_due(case: CaseTimes, now: datetime, later: timedelta) -> None:
    alerts = due_alerts(case, now)
    for alert in alerts:
        assert alert.due_at <= now
        if alert.kind is AlertKind.CHILD_ENTITLEMENTS_OVERDUE:
            assert case.child_at_stage1 and alert.missing
            assert Audience.MONITORING_BODY in alert.audiences and Audience.NRM_COORDINATOR in alert.audiences
    assert {(a.kind, a.due_at) for a in alerts} <= {(a.kind, a.due_at) for a in due_alerts(case, now + later)}
    if case.referred_at is None:
        assert alerts == []


@pytest.mark.rule("S38")
def test_gateway_nrm_timers_raises_what_is_due_from_the_command_line(
    client: TestClient, auth: Auth, nrm: Registry, ctx: GatewayContext, db_url: str, tmp_path: Path
) -> None:
    subject_id = _subject(client, auth, nrm_referred_at=_iso(T0 - 10 * DAY))
    env = {"GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(tmp_path)}
    first = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["nrm-timers"], env=env)
    assert first.exit_code == 0, first.output
    assert f"stage1_decision_overdue  {subject_id}  rule S38" in first.output and "1 alert(s) raised" in first.output
    again = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["nrm-timers"], env=env)
    assert again.exit_code == 0 and "0 alert(s) raised" in again.output
