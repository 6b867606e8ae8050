"""The statistics page over HTTP, on both databases: who may see it, CSRF, cost before release."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from crypto.keys import signing_public_key
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.statistics.files import verify_csv
from tests.console.conftest import csrf_of, make_staff, sign_in
from tests.statistics.conftest import seed_cases

FORM = {"source": "persons", "dimensions": ["sex", "child"], "granularity": "year", "period_from": "2026-01",
        "period_to": "2026-11", "epsilon": "0.5"}


def test_the_rapporteur_costs_then_releases_a_table(ctx: GatewayContext, client: TestClient,
                                                    agencies: object) -> None:
    seed_cases(ctx, 40)
    rapporteur = make_staff(ctx, "rapporteur-1", "rapporteur")
    assert sign_in(client, rapporteur).status_code == 303
    # The audit log itself is not for the rapporteur: the console sends them to statistics.
    home = client.get("/console", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/console/statistics"
    assert client.get("/console/entries", follow_redirects=False).headers["location"] == "/console/statistics"
    page = client.get("/console/statistics")
    assert page.status_code == 200 and "Budget left for 2026: <strong>2.0</strong>" in page.text
    csrf = csrf_of(page.text)

    refused = client.post("/console/statistics/cost", data={**FORM, "csrf_token": "forged"})
    assert refused.status_code == 403

    cost = client.post("/console/statistics/cost", data={**FORM, "csrf_token": csrf})
    assert cost.status_code == 200
    assert re.search(r'id="cost-epsilon">0.5<', cost.text)
    assert "2026: 2.0 left, 1.5 after" in cost.text
    assert "within plus or minus" in cost.text
    with ctx.sessions() as session:  # nothing spent, nothing released yet
        assert session.scalars(select(AuditEntry.action).where(
            AuditEntry.action == "statistics:release:publish")).first() is None

    released = client.post("/console/statistics/releases", data={**FORM, "csrf_token": csrf},
                           follow_redirects=False)
    assert released.status_code == 303
    page = client.get(released.headers["location"])
    assert page.status_code == 200
    assert "<svg" in page.text and "style=" not in page.text.split("<svg", 1)[1]  # CSP: no inline style
    counts = [int(c) for c in re.findall(r"<td>(\d+)</td></tr>", page.text)]
    assert all(c >= 11 for c in counts)
    download = client.get(released.headers["location"] + "/download.csv")
    assert download.headers["content-disposition"].endswith('.csv"')
    verify_csv(download.text, signing_public_key(ctx.signing_seed))

    over = client.post("/console/statistics/releases", data={**FORM, "epsilon": "1.6", "csrf_token": csrf})
    assert over.status_code == 409 and "privacy budget for 2026 has 1.5 left" in over.text


def test_a_dpo_may_not_release_statistics(ctx: GatewayContext, client: TestClient) -> None:
    dpo = make_staff(ctx, "dpo", "dpo")
    assert sign_in(client, dpo).status_code == 303
    assert client.get("/console/statistics").status_code == 403
    page = client.get("/console")
    assert "/console/statistics" not in page.text
    with ctx.sessions() as session:
        refusals = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "statistics:release:refuse")))
    assert [(r.actor_user, r.reason) for r in refusals] == [("dpo", "statistics_role_required")]


def test_the_monitoring_body_sees_both_the_log_and_statistics(ctx: GatewayContext, client: TestClient) -> None:
    monitor = make_staff(ctx, "monitor-1", "monitoring_body")
    assert sign_in(client, monitor).status_code == 303
    home = client.get("/console")
    assert home.status_code == 200 and 'href="/console/statistics"' in home.text
    assert client.get("/console/statistics").status_code == 200
    bad = client.post("/console/statistics/cost", data={**FORM, "epsilon": "0", "csrf_token": csrf_of(home.text)})
    assert bad.status_code == 422 and "epsilon must be between" in bad.text
