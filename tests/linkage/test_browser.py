"""The DPO's record-linkage page in real headless Chromium: readable, accessible, probing first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from gateway.context import GatewayContext
from gateway.linkage.models import LinkageQuery
from tests.conftest import Registry, empty_database
from tests.console.conftest import StaffLogin
from tests.support.browser import screenshot, serious_axe_violations

pytestmark = [pytest.mark.browser]


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only, like the console's browser tests (what the browser sees does not depend on it)."""
    yield sqlite_database
    empty_database(sqlite_database)


@pytest.fixture
def questions(ctx: GatewayContext, registry: Registry) -> None:
    """An NGO asking forty questions with fresh keys (some throttled), a clinic asking twice."""
    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        for i in range(40):
            session.add(LinkageQuery(id=f"lq-ngo-{i}", agency_id="ngo", subject_id=f"s-{i}",
                                     at=now - timedelta(minutes=40 - i), outcome="throttled" if i >= 30 else "answered",
                                     reason="linkage_rate_limited" if i >= 30 else None, matches=i % 3 == 0,
                                     key_age_s=60))
        for i in range(2):
            session.add(LinkageQuery(id=f"lq-clinic-{i}", agency_id="clinic", subject_id="s-c",
                                     at=now - timedelta(days=1), outcome="answered", reason=None, matches=0,
                                     key_age_s=86_400 * 30))


def test_the_dpo_sees_the_probing_agency_first(server: str, browser: Any, dpo: StaffLogin, questions: None) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/console")
    page.fill("#username", dpo.username)
    page.fill("#password", dpo.password)
    page.fill("#code", dpo.code())
    page.click("button:has-text('Sign in')")
    page.click("a:has-text('Record linkage')")
    assert page.url.endswith("/console/linkage")
    assert "1 agency looks like probing" in page.text_content("#probing-status")
    rows = page.locator("#linkage-activity tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).inner_text()
    assert first.startswith("ngo") and "throttled" in first and "fresh_keys" in first
    assert rows.nth(1).inner_text().startswith("clinic")
    assert serious_axe_violations(page) == []
    screenshot(page, "console-linkage")
