"""The statistics page in real headless Chromium: build a table, see its cost and chart, download it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.keys import signing_public_key
from gateway.context import GatewayContext
from gateway.statistics.files import verify_csv, verify_json
from tests.conftest import empty_database
from tests.console.conftest import make_staff
from tests.statistics.conftest import seed_cases
from tests.support.browser import screenshot, serious_axe_violations

pytestmark = [pytest.mark.browser]


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only (see tests/support/browser.py); emptied afterwards like the shared fixture."""
    yield sqlite_database
    empty_database(sqlite_database)


def test_a_rapporteur_builds_a_table_sees_its_cost_and_chart_and_downloads_it(
    server: str, browser: Any, ctx: GatewayContext, agencies: object, tmp_path: Path,
) -> None:
    seed_cases(ctx, 80)
    rapporteur = make_staff(ctx, "rapporteur-1", "rapporteur")
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    csp_violations: list[str] = []
    page.on("console", lambda message: csp_violations.append(message.text)
            if "Content Security Policy" in message.text else None)

    page.goto(f"{server}/console")
    page.fill("#username", rapporteur.username)
    page.fill("#password", rapporteur.password)
    page.fill("#code", rapporteur.code())
    page.click("button:has-text('Sign in')")
    assert page.url.endswith("/console/statistics")
    assert page.text_content("h1") == "Statistics"
    accessibility = {"form": serious_axe_violations(page)}

    # Build: people by sex, whole of 2026 so far, epsilon 0.5.
    page.check("input[name=source][value=persons]")
    page.uncheck("#dim-age_band")
    page.check("#dim-sex")
    page.fill("#period_from", "2026-01")
    page.fill("#period_to", "2026-11")
    page.select_option("#granularity", "year")
    page.fill("#epsilon", "0.5")
    page.click("button:has-text('Show the privacy cost')")
    assert page.text_content("#cost-epsilon") == "0.5"
    assert "within plus or minus" in page.text_content("#cost-error")
    screenshot(page, "statistics-01-cost")
    accessibility["cost"] = serious_axe_violations(page)

    page.click("button:has-text('Release this table')")
    assert "/console/statistics/releases/rel_" in page.url
    chart = page.locator("#release-chart svg")
    assert chart.count() == 1
    assert page.locator("#release-chart svg path").count() > 0  # bars were drawn
    counts = [cell.text_content() for cell in page.locator("#release-table tbody tr td:last-child").all()]
    assert len(counts) == 4  # female, male, other, unknown
    assert all(c.startswith("<") or int(c) >= 11 for c in counts)
    assert page.text_content("#release-epsilon") == "0.5"
    screenshot(page, "statistics-02-release")
    accessibility["release"] = serious_axe_violations(page)

    public = signing_public_key(ctx.signing_seed)
    with page.expect_download() as csv_download:
        page.click("#download-csv")
    saved = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(saved)
    assert "# epsilon: 0.5" in verify_csv(saved.read_text(), public)
    with page.expect_download() as json_download:
        page.click("#download-json")
    saved_json = tmp_path / json_download.value.suggested_filename
    json_download.value.save_as(saved_json)
    assert verify_json(saved_json.read_bytes(), public)["parameters"]["k"] == 11

    assert not csp_violations, csp_violations
    problems = {name: found for name, found in accessibility.items() if found}
    assert not problems, f"axe-core found serious or critical violations: {problems}"
