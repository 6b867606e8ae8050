"""A consent recorded with the person present, in real Chromium on both databases.

The caseworker fills every item the handbooks ask to be explained (purpose, each recipient by
name, how much, what information, the notice, the language, capacity, expiry); the person reads
what they agree to in their own language on the same screen and only their tick enables recording.
A bundle of purposes is refused and split, one purpose at a time (CR3); a consent explained in a
language other than the person's without an interpreter is refused in plain words (CR9). The staff
member on the record is the signed-in person (the form has no such field). The access code is
shown once, the card opens for printing in the person's language with the code on it, and the
person chooses their PIN on the same screen (a guessable one and a mistyped one are refused);
then the person signs in to their portal with the card's code and that PIN. Five languages, Arabic
right to left, screenshots at 360 and 1280 px.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent.clock import FixedClock
from gateway import i18n
from gateway.context import GatewayContext
from gateway.workspace.refusals import refusals
from tests.conftest import Registry
from tests.consent.conftest import subject_body
from tests.support.browser import screenshot, serious_axe_violations
from tests.workspace import workspace_support as ws
from tests.workspace.workspace_support import (
    agency_headers,
    import_key,
    key_file,
    open_workspace,
    signed_in,
    translated,
)

base, settings, server = ws.base, ws.settings, ws.server  # the live gateway's fixtures

REFUSALS = refusals()
pytestmark = [pytest.mark.browser]

AGENCY, RECIPIENT = "ngo", "shelter"
PIN = "582947"
EXPLAINED = ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"]


def _fill(page: Any, subject_id: str, purposes: list[str], language: str, expires: str) -> None:
    page.locator(f"#people-list li:has-text('{subject_id}') .record-consent").click()
    assert page.input_value("#c-subject") == subject_id
    for purpose in purposes:
        page.check(f"input[name='c-purpose'][value='{purpose}']")
    page.check(f"input[name='c-recipient'][value='{RECIPIENT}']")
    for code in ("D1", "D5", "D12"):
        page.check(f"input[name='c-class'][value='{code}']")
    for item in EXPLAINED:
        page.check(f"input[name='c-explained'][value='{item}']")
    page.fill("#c-notice", "shelter-notice-v3")
    page.fill("#c-language", language)
    page.fill("#c-expires", expires)
    page.click("#consent-review")
    page.wait_for_selector("#consent-confirm", state="visible")


def _confirm_and_record(page: Any) -> None:
    assert page.is_disabled("#consent-record")
    page.check("#consent-agree")
    page.click("#consent-record")


def test_a_consent_recorded_with_the_person_present(
    server: str, browser: Any, ctx: GatewayContext, registry: Registry, clock: FixedClock, tmp_path: Path,
) -> None:
    base = server
    with httpx.Client(base_url=base) as http:
        headers = agency_headers(http, registry, clock, AGENCY, base, ctx)
        created = http.post("/v1/subjects", headers=headers, json=subject_body(preferred_language="fr"))
        assert created.status_code == 201, created.text
        subject_id = str(created.json()["id"])
    expires = (clock.now() + timedelta(days=90)).date().isoformat()
    page, member = signed_in(browser, base, ctx, AGENCY, 360)
    import_key(page, key_file(registry, AGENCY, tmp_path))
    page.locator(f"#people-list li:has-text('{subject_id}')").wait_for()

    # Two purposes at once: the person reads them in French; recording is refused and split (CR3).
    _fill(page, subject_id, ["shelter", "healthcare"], "fr", expires)
    person = page.locator("#consent-person .person-preview")
    assert person.get_attribute("lang") == "fr"
    text = str(person.text_content())
    for words in ("Do you agree?", "A safe place to stay", "Health care", "Risks and safety plan"):
        assert translated("fr", words) in text, words
    screenshot(page, "workspace-consent-person-fr-360")
    _confirm_and_record(page)
    page.wait_for_selector("#consent-split", state="visible")
    assert page.text_content("#consent-message") == REFUSALS["bundled_purposes"]
    split = page.locator("#consent-split-list button")
    assert sorted(str(split.nth(i).get_attribute("data-purpose")) for i in range(split.count())) == [
        "healthcare", "shelter"]
    # One purpose, but explained in English to a French speaker with no interpreter: refused (CR9).
    page.fill("#c-language", "en")
    page.locator("#consent-split-list button[data-purpose='shelter']").click()
    page.wait_for_selector("#consent-confirm", state="visible")
    assert page.get_attribute("#consent-person .person-preview", "lang") == "en"
    _confirm_and_record(page)
    page.wait_for_selector("#consent-message[data-reason='interpreter_required']")
    assert page.text_content("#consent-message") == REFUSALS["interpreter_required"]
    # Explained in French: the person confirms, and it is recorded.
    page.fill("#c-language", "fr")
    page.click("#consent-review")
    _confirm_and_record(page)
    page.wait_for_selector("#consent-recorded", state="visible")
    consent_id = str(page.text_content("#consent-id"))
    code = str(page.text_content("#access-code"))
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){3}", code), code
    with httpx.Client(base_url=base) as http:
        shown = http.get(f"/v1/consents/{consent_id}", headers=agency_headers(http, registry, clock, AGENCY, base, ctx))
        assert shown.status_code == 200, shown.text
    record = shown.json()
    # The staff member on the record is the one signed in, from their account; the channel: in person.
    assert record["obtained_by"]["staff_id"] == member.account_id
    assert record["channel"] == "in_person" and record["purpose"] == "shelter" and record["language"] == "fr"
    assert sorted(record["explained_items"]) == sorted(EXPLAINED)

    # The card, in French, with the code just issued, opens in a window of its own for printing.
    with page.expect_popup() as popup_info:
        page.click("#print-card")
    card = popup_info.value
    card.wait_for_load_state()
    assert card.get_attribute("html", "lang") == "fr"
    assert code in str(card.text_content("body"))
    # The card's own stylesheet applies (its hash is the only inline style the policy allows).
    assert "monospace" in card.evaluate("getComputedStyle(document.querySelector('.code')).fontFamily")
    card.close()

    # The person chooses a PIN, in French: a guessable one and a mistyped one are refused.
    pin_box = page.locator("#pin-person .person-preview")
    assert pin_box.get_attribute("lang") == "fr"
    assert translated("fr", "Choose your PIN for the portal") in str(pin_box.text_content())
    pin_box.locator(".pc-pin").fill("123456")
    pin_box.locator(".pc-pin-again").fill("123456")
    page.click("#set-pin")
    page.wait_for_selector("#consent-message[data-reason='pin_too_simple']")
    assert page.text_content("#consent-message") == REFUSALS["pin_too_simple"]
    assert pin_box.locator(".pc-pin").input_value() == ""
    pin_box.locator(".pc-pin").fill(PIN)
    pin_box.locator(".pc-pin-again").fill(PIN[::-1])
    page.click("#set-pin")
    assert pin_box.locator(".pc-mismatch").is_visible()
    pin_box.locator(".pc-pin").fill(PIN)
    pin_box.locator(".pc-pin-again").fill(PIN)
    page.click("#set-pin")
    page.wait_for_selector("#pin-done", state="visible")
    assert serious_axe_violations(page) == []
    # Neither the code nor the PIN is kept in the browser's storage.
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
    assert code not in stored and PIN not in stored
    # The next consent begins: the last access code leaves the screen.
    page.locator(f"#people-list li:has-text('{subject_id}') .record-consent").click()
    assert page.text_content("#access-code") == "" and code not in str(page.text_content("body"))

    # The person signs in to their portal with the card's code and the PIN they chose.
    portal = browser.new_context(viewport={"width": 360, "height": 800}).new_page()
    portal.goto(f"{base}/p/?lang=fr")
    portal.fill("#code", code)
    portal.fill("#pin", PIN)
    portal.click("#sign-in")
    portal.wait_for_selector("#news-title")
    portal.close()

    # The same screens in five languages at both widths; the person's part stays in French.
    for lang in i18n.LANGUAGES:
        open_workspace(page, base, lang)
        page.locator(f"#people-list li:has-text('{subject_id}')").wait_for()
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        _fill(page, subject_id, ["shelter"], "fr", expires)
        assert page.get_attribute("#consent-person .person-preview", "lang") == "fr"
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"workspace-consent-{lang}-{width}")
        page.set_viewport_size({"width": 360, "height": 900})
    # An Arabic speaker reads right to left inside an English page.
    open_workspace(page, base, "en")
    page.locator(f"#people-list li:has-text('{subject_id}')").wait_for()
    _fill(page, subject_id, ["shelter"], "ar", expires)
    assert page.get_attribute("#consent-person .person-preview", "dir") == "rtl"
    screenshot(page, "workspace-consent-person-ar-in-en-360")
