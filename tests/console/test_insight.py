"""The console at a glance: a person's page (who received what, when, on what basis) and server-drawn
SVG charts with their numbers, in HTTP and in Chromium at 1280 px (screenshots in the test output)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.console.charts import build_charts, render_svg
from gateway.context import GatewayContext
from tests.conftest import empty_database
from tests.console.conftest import StaffLogin
from tests.support.browser import screenshot
from tests.support.pseudonyms import subject_of


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only, like the other console browser tests (the queries are plain selects)."""
    yield sqlite_database
    empty_database(sqlite_database)


@pytest.fixture
def trail(ctx: GatewayContext) -> None:
    at = ctx.clock.now() - timedelta(days=2)
    worker = Actor(agency_id="ngo", role="ngo", user="advocate-7")
    events = [
        AuditEvent(AuditTag.EXCHANGE_PLAN, decision="allow", subject_id="subj-42", purpose="shelter",
                   recipient_agency_id="shelter", classes_requested=("D1", "D5"), classes_released=("D1", "D5"),
                   basis={"consent_ids": ["cns-17"], "exception": None}),
        AuditEvent(AuditTag.EXCHANGE_PLAN, decision="deny", reason="no_consent", subject_id="subj-42",
                   purpose="criminal_justice", recipient_agency_id="police", classes_requested=("D3",)),
        AuditEvent(AuditTag.EXCEPTION_USE, decision="allow", subject_id="subj-42", purpose="healthcare",
                   recipient_agency_id="clinic", classes_released=("D8",), basis={"consent_ids": [],
                                                                                 "exception": "L4"}),
        AuditEvent(AuditTag.PORTAL_SIGN_IN, decision="info", subject_id="subj-42"),
        AuditEvent(AuditTag.PORTAL_SIGN_IN, decision="info", subject_id="subj-42"),
    ]
    with ctx.sessions() as session, session.begin():
        for i, event in enumerate(events):
            record(session, event, actor=worker, at=at + timedelta(minutes=i))


def _sign_in(client: TestClient, dpo: StaffLogin) -> None:
    from tests.console.conftest import sign_in

    assert sign_in(client, dpo).status_code == 303


def test_a_persons_page_groups_releases_by_recipient_and_hides_sign_ins(
    client: TestClient, dpo: StaffLogin, trail: None, ctx: GatewayContext,
) -> None:
    assert client.get("/console/people/subj-42", follow_redirects=False).status_code == 303  # signed out
    _sign_in(client, dpo)
    page = client.get("/console/people/subj-42")
    assert page.status_code == 200
    html = page.text
    assert "<h3>clinic" in html and "<h3>shelter" in html
    assert "exception <strong>L4</strong>" in html and "cns-17" in html
    assert "No consent in force covers this exchange" in html and "Identity core" in html  # legends
    assert "2 portal sign-in entries hidden" in html and "portal:session:sign_in" not in html
    assert "portal:session:sign_in" in client.get("/console/people/subj-42?noise=1").text
    with ctx.sessions() as session:
        views = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:log:view")).all()
    assert any((v.details or {}).get("view") == "person" and subject_of(ctx, v.subject_id) == "subj-42" for v in views)
    assert client.get("/console/people/has%20space").status_code == 422


def test_charts_are_svg_with_their_numbers(client: TestClient, dpo: StaffLogin, trail: None,
                                           ctx: GatewayContext) -> None:
    with ctx.sessions() as session:
        built = build_charts(session, ctx.clock.now(), ctx.settings.policy_dir)
    assert dict(built["denials"].rows) == {"no_consent": 1}
    assert dict(built["exceptions"].rows) == {"L4": 1}
    svg = render_svg(built["exceptions"]).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "L4: 1" in svg  # <desc> names the numbers
    _sign_in(client, dpo)
    page = client.get("/console/charts").text
    for name in ("denials", "exceptions", "sensitive", "deadlines"):
        assert f'src="/console/charts/{name}.svg"' in page
        image = client.get(f"/console/charts/{name}.svg")
        assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"
    assert "The numbers behind this chart" in page and 'alt="Exception use by legal basis: L4 1"' in page


@pytest.mark.browser
def test_person_page_and_charts_in_chromium_at_1280(server: str, browser: Any, dpo: StaffLogin, trail: None) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{server}/console")
    page.fill("#username", dpo.username)
    page.fill("#password", dpo.password)
    page.fill("#code", dpo.code())
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Sign out")
    page.goto(f"{server}/console/entries?subject=subj-42")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # the results table fits
    assert page.get_attribute("#f-from", "type") == "date"
    page.click("a[href='/console/people/subj-42'] >> nth=0")
    page.wait_for_selector("h1:has-text('Who received what')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "console-person")
    page.goto(f"{server}/console/charts")
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.click("text=The numbers behind this chart >> nth=1")
    assert page.is_visible("td:has-text('L4')")
    screenshot(page, "console-charts")
    assert not csp_errors, csp_errors
