"""The DPO console's consent page in Chromium at 1280 px, in English and Arabic (right to left), reached
from the person's page (screenshots in the test output)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Registry, empty_database
from tests.console.conftest import StaffLogin
from tests.console.test_consent_page import _story
from tests.support.browser import screenshot
from tests.support.staff import People


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only, like the other console browser tests (test_consent_page.py runs the page on both)."""
    yield sqlite_database
    empty_database(sqlite_database)


@pytest.mark.browser
def test_the_consent_page_in_chromium_at_1280(
    server: str, browser: Any, client: TestClient, auth: Any, registry: Registry, dpo: StaffLogin, people: People,
) -> None:
    story = _story(client, auth)
    staff = people.default_id("ngo")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{server}/console")
    page.fill("#username", dpo.username)
    page.fill("#password", dpo.password)
    page.fill("#code", dpo.code())
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Sign out")
    page.goto(f"{server}/console/people/{story.subject_id}")
    page.click(f"a[href='/console/consents/{story.first}'] >> nth=0")
    page.wait_for_selector("h1:has-text('Consent')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.is_visible("h2:has-text('State history')") and page.is_visible(f"code:has-text('{staff}')")
    screenshot(page, "console-consent")
    page.click("a[hreflang='ar']")
    page.wait_for_selector("h2:has-text('سجل الحالات')")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(page, "console-consent-ar")
    page.click(f"a[href='/console/consents/{story.second}?lang=ar']")
    page.wait_for_selector(f"h1:has-text('{story.second}')")
    assert not csp_errors, csp_errors
