"""The statistics store, releases with disclosure control, and the budget ledger, on both databases."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.subjects import Subject
from crypto.errors import InvalidSignature
from crypto.keys import signing_public_key
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.models import metadata
from gateway.statistics.files import verify_csv, verify_json
from gateway.statistics.models import StatBudgetPeriod, StatEvent, StatLedgerEntry, StatPerson, StatRelease
from gateway.statistics.release import StatisticsRefused, TableRequest, true_counts
from gateway.statistics.service import StatisticsService
from tests.statistics.conftest import seed_cases

RAPPORTEUR = Actor(agency_id="rapporteur", role="rapporteur")
TABLE = {"source": "persons", "dimensions": ["sex", "exploitation_type"], "period_from": "2026-01",
         "period_to": "2026-12", "granularity": "year", "epsilon": 0.5}


def _with(ctx: GatewayContext, **settings: Any) -> GatewayContext:
    ctx.settings = ctx.settings.model_copy(update=settings)
    return ctx


def _actions(ctx: GatewayContext, action: str) -> list[AuditEntry]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


@pytest.mark.rule("S31")
def test_the_store_is_filled_from_the_audit_log_once_and_holds_no_identifier(
        ctx: GatewayContext, agencies: object) -> None:
    cases = seed_cases(ctx, 40)
    service = StatisticsService(ctx)
    read = service.refresh()
    assert read > 0
    assert service.refresh() == 0  # idempotent: nothing new, nothing counted twice
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StatPerson)) == 40
        assert session.scalar(select(func.count()).select_from(StatEvent)) == cases.counted_entries
        people = list(session.scalars(select(StatPerson)))
        assert {p.sex for p in people} <= {"female", "male"}
        assert {p.nationality_group for p in people} <= {"africa", "europe", "asia", "other"}
        # No subject id (nor anything else identifying) is stored in any statistics table.
        dumped = json.dumps([[str(v) for v in row] for table in metadata.sorted_tables
                             if table.name.startswith("stat_")
                             for row in session.execute(table.select())])
    assert not any(subject_id in dumped for subject_id in cases.subject_ids)
    assert "NG" not in dumped.split('"') and "RO" not in dumped.split('"')


@pytest.mark.rule("S31")
def test_no_released_cell_is_under_k_and_the_files_are_signed(ctx: GatewayContext, agencies: object) -> None:
    seed_cases(ctx, 60)
    service = StatisticsService(ctx)
    table = TableRequest.parse({**TABLE, "dimensions": ["sex", "exploitation_type", "nationality_group"]},
                               service.policy)
    released = service.release(table, RAPPORTEUR)
    document = released.document
    values = [row[-1] for row in document["rows"]]
    assert len(values) == table.cell_count == 4 * 7 * 8
    assert all(v is None or v >= 11 for v in values)
    assert any(v is None for v in values)
    assert document["suppressed"]["count"] == values.count(None)
    assert sorted(document["suppressed"]["cells"]) == sorted(row[:-1] for row in document["rows"] if row[-1] is None)
    assert document["parameters"]["epsilon"] == 0.5 and document["parameters"]["delta"] == 0
    assert document["parameters"]["k"] == 11
    assert "within plus or minus" in document["expected_error"]["plain"]

    public = signing_public_key(ctx.signing_seed)
    with ctx.sessions() as session:
        row = session.get(StatRelease, released.release.id)
        assert row is not None
        csv_text, stored = row.csv, row.document
    from gateway.statistics.files import release_json

    assert verify_json(release_json(stored, released.signature), public)["release_id"] == released.release.id
    body = verify_csv(csv_text, public)
    assert "# epsilon: 0.5" in body and "# k (smallest count published): 11" in body
    data_lines = [line for line in body.splitlines() if line and not line.startswith("#")][1:]
    for line in data_lines:
        count = line.split(",")[-2]
        assert count == "" or int(count) >= 11
    # A changed parameter or figure breaks the signature.
    with pytest.raises(InvalidSignature):
        verify_csv(csv_text.replace("# epsilon: 0.5", "# epsilon: 0.05", 1), public)
    with pytest.raises(InvalidSignature):
        verify_csv(csv_text.replace(",suppressed", "3,published", 1), public)

    entries = _actions(ctx, "statistics:release:publish")
    assert [(e.details["release_id"], e.details["epsilon"]) for e in entries] == [(released.release.id, 0.5)]


@pytest.mark.rule("S31")
def test_the_ledger_refuses_a_release_beyond_the_budget(ctx: GatewayContext, agencies: object) -> None:
    seed_cases(ctx, 20)
    _with(ctx, statistics_budget_per_year=1.0)
    service = StatisticsService(ctx)
    first = TableRequest.parse({**TABLE, "epsilon": 0.6}, service.policy)
    service.release(first, RAPPORTEUR)
    with pytest.raises(StatisticsRefused) as refused:
        service.release(first, RAPPORTEUR)
    assert refused.value.reason == "privacy_budget_exhausted" and refused.value.status == 409
    assert refused.value.extra == {"period": "2026", "budget_left": 0.4}
    # What is left can still be spent, exactly; then nothing more.
    service.release(TableRequest.parse({**TABLE, "epsilon": 0.4}, service.policy), RAPPORTEUR)
    with pytest.raises(StatisticsRefused):
        service.release(TableRequest.parse({**TABLE, "epsilon": 0.01}, service.policy), RAPPORTEUR)
    # A table spanning two years is charged to both, and refused if either is spent.
    with pytest.raises(StatisticsRefused) as spanning:
        service.release(TableRequest.parse({**TABLE, "period_from": "2025-06", "epsilon": 0.1}, service.policy),
                        RAPPORTEUR)
    assert spanning.value.extra["period"] == "2026"
    service.release(TableRequest.parse({**TABLE, "period_from": "2025-01", "period_to": "2025-12", "epsilon": 1.0},
                                       service.policy), RAPPORTEUR)
    with ctx.sessions() as session:
        spent = {p: v for p, v in session.execute(select(StatBudgetPeriod.period, StatBudgetPeriod.spent_micro))}
        assert spent == {"2025": 1_000_000, "2026": 1_000_000}
        assert session.scalar(select(func.count()).select_from(StatRelease)) == 3
        assert session.scalar(select(func.sum(StatLedgerEntry.epsilon_micro))) == 2_000_000
    refusals = _actions(ctx, "statistics:release:refuse")
    assert [r.reason for r in refusals] == ["privacy_budget_exhausted"] * 3


def test_concurrent_releases_cannot_both_spend_the_last_budget(ctx: GatewayContext, agencies: object) -> None:
    seed_cases(ctx, 10)
    _with(ctx, statistics_budget_per_year=1.0)
    service = StatisticsService(ctx)
    service.refresh()
    table = TableRequest.parse({**TABLE, "epsilon": 0.6}, service.policy)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def one() -> None:
        start.wait()
        try:
            service.release(table, RAPPORTEUR)
            outcomes.append("released")
        except StatisticsRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["privacy_budget_exhausted"] * 3 + ["released"]
    with ctx.sessions() as session:
        assert session.scalar(select(StatBudgetPeriod.spent_micro)) == 600_000


def test_two_refreshes_at_once_count_every_entry_once(ctx: GatewayContext, agencies: object) -> None:
    cases = seed_cases(ctx, 30)
    service = StatisticsService(ctx)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def one() -> None:
        start.wait()
        try:
            service.refresh()
        except BaseException as exc:  # a duplicate would fail the primary key
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StatEvent)) == cases.counted_entries
        assert session.scalar(select(func.count()).select_from(StatPerson)) == 30


def test_one_person_adds_at_most_max_contributions_records_to_an_events_table(
        ctx: GatewayContext, agencies: object) -> None:
    seed_cases(ctx, 3)
    with ctx.sessions() as session, session.begin():  # one person with 25 referrals, in 2026
        for i in range(25):
            record(session, AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id="subj_stats_0000",
                                       purpose="shelter", recipient_agency_id="shelter",
                                       basis={"consent_ids": ["c1"], "exception": None},
                                       details={"envelope_id": f"env-x{i}"}), actor=RAPPORTEUR, at=ctx.clock.now())
    service = StatisticsService(ctx)
    service.refresh()
    table = TableRequest.parse({**TABLE, "source": "events", "dimensions": ["event"]}, service.policy)
    with ctx.sessions() as session:
        units = session.execute(select(StatEvent.unit, func.count()).group_by(StatEvent.unit)).all()
        counts = true_counts(session, table, service.policy)
    assert max(n for _unit, n in units) > 25
    by_unit_cap = sum(min(n, 10) for _unit, n in units)
    assert sum(counts.values()) == by_unit_cap
    assert service.policy.max_contributions == 10 and table.source == "events"


@pytest.mark.parametrize(("change", "reason"), [
    ({"source": "cases"}, "unknown_source"),
    ({"dimensions": ["event"]}, "unknown_dimension"),
    ({"dimensions": []}, "invalid_dimensions"),
    ({"dimensions": ["sex", "sex"]}, "invalid_dimensions"),
    ({"period_from": "2026-13"}, "invalid_period"),
    ({"period_to": "2025-01"}, "invalid_period"),
    ({"epsilon": 0}, "invalid_epsilon"),
    ({"epsilon": 50}, "invalid_epsilon"),
    ({"epsilon": "nan"}, "invalid_epsilon"),
    ({"granularity": "month", "period_from": "2000-01",
      "dimensions": ["age_band", "sex", "nationality_group"]}, "table_too_large"),
])
def test_bad_requests_are_refused_with_a_reason(ctx: GatewayContext, change: dict[str, Any], reason: str) -> None:
    with pytest.raises(StatisticsRefused) as refused:
        TableRequest.parse({**TABLE, **change}, StatisticsService(ctx).policy)
    assert refused.value.reason == reason


@pytest.mark.rule("S31")
def test_the_api_serves_only_the_rapporteur_and_the_monitoring_body(
        ctx: GatewayContext, client: TestClient, bearer: Callable[[str], dict[str, str]]) -> None:
    seed_cases(ctx, 30)
    refused = client.post("/v1/statistics/cost", json=TABLE, headers=bearer("ngo"))
    assert refused.status_code == 403 and refused.json()["reason"] == "statistics_role_required"
    assert [e.actor_agency_id for e in _actions(ctx, "statistics:release:refuse")] == ["ngo"]

    cost = client.post("/v1/statistics/cost", json=TABLE, headers=bearer("monitor"))
    assert cost.status_code == 200, cost.text
    assert cost.json()["epsilon"] == 0.5 and cost.json()["budget_left_before"] == {"2026": 2.0}
    assert cost.json()["expected_error_95"] > 0

    created = client.post("/v1/statistics/releases", json=TABLE, headers=bearer("rapporteur"))
    assert created.status_code == 201, created.text
    document = verify_json(created.content, signing_public_key(ctx.signing_seed))
    assert all(row[-1] is None or row[-1] >= 11 for row in document["rows"])
    location = created.headers["location"]
    assert client.get(location, headers=bearer("monitor")).content == created.content
    csv_response = client.get(location.replace(".json", ".csv"), headers=bearer("rapporteur"))
    verify_csv(csv_response.text, signing_public_key(ctx.signing_seed))
    assert client.get(location, headers=bearer("ngo")).status_code == 403

    bad = client.post("/v1/statistics/releases", json={**TABLE, "epsilon": 99}, headers=bearer("rapporteur"))
    assert bad.status_code == 422 and bad.json()["reason"] == "invalid_epsilon"
    over = client.post("/v1/statistics/releases", json={**TABLE, "epsilon": 1.6}, headers=bearer("rapporteur"))
    assert over.status_code == 409 and over.json()["reason"] == "privacy_budget_exhausted"
    unknown = client.get("/v1/statistics/releases/rel_nothing.json", headers=bearer("rapporteur"))
    assert unknown.status_code == 404


def test_the_scheduler_keeps_the_store_up_to_date(ctx: GatewayContext, agencies: object) -> None:
    from gateway.scheduler import ScheduledJobs

    seed_cases(ctx, 5)
    jobs = ScheduledJobs(ctx)
    assert jobs.run_once()["statistics_entries_read"] > 0
    assert jobs.run_once()["statistics_entries_read"] == 0
    with ctx.sessions() as session:
        # The retention schedule erased the seeded subjects with nothing left past its period (their
        # statistics rows with them); every other person is in the store.
        kept = session.scalar(select(func.count()).select_from(Subject))
        assert session.scalar(select(func.count()).select_from(StatPerson)) == kept
