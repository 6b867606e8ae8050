"""The send form's risk summary and the preview in the person's language, in real Chromium on both
databases.

Before anything is filled in, the caseworker sees what the recipient will see (by kind of
information, in plain words), how much is held back and why, the basis, how long the plan holds,
and the obligations the rules attach (the risk summary, the person's preview, telling the person),
with a warning when the risk summary the rules require is missing. The preview is shown in the
person's recorded language whatever the caseworker's page is in (Arabic right to left), and a
language the page does not have says to read it with an interpreter. Five languages, 360 and 1280 px.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent.clock import FixedClock
from crypto.keys import fingerprint
from gateway import i18n
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.support.browser import screenshot, serious_axe_violations
from tests.workspace import workspace_support as ws
from tests.workspace.workspace_support import (
    agency_headers,
    database_text,
    import_key,
    key_file,
    open_workspace,
    pin_key,
    signed_in,
    translated,
)

base, settings, server = ws.base, ws.settings, ws.server  # the live gateway's fixtures

pytestmark = [pytest.mark.browser]

SENDER, RECIPIENT = "ngo", "shelter"
RISK = "Controller drives a grey van past the Quillfeather hostel"
NAME = "Nadira Thistlewood-Aberaman"


def _person(http: httpx.Client, headers: dict[str, str], language: str) -> str:
    subject = http.post("/v1/subjects", headers=headers, json=subject_body(preferred_language=language))
    assert subject.status_code == 201, subject.text
    subject_id = str(subject.json()["id"])
    consent = http.post("/v1/consents", headers=headers, json=consent_body(
        subject_id, purpose="shelter", recipients=[{"agency_id": RECIPIENT}], data_classes=["D1", "D5", "D12"],
        language=language))
    assert consent.status_code == 201, consent.text
    return subject_id


def _plan(page: Any, subject_id: str, fields: list[str]) -> None:
    page.fill("#subject-id", subject_id)
    page.select_option("#recipient", RECIPIENT)
    page.select_option("#purpose", "shelter")
    if not page.is_visible("#plan-form fieldset"):
        page.click("#field-choice summary")
    page.eval_on_selector_all("#plan-form input[name='field']", "boxes => boxes.forEach((b) => { b.checked = false; })")
    for name in fields:
        page.check(f"#plan-form input[value='{name}']")
    page.click("#plan")
    page.wait_for_selector("#plan-result", state="visible")


def _preview(page: Any, values: dict[str, str]) -> Any:
    for name, value in values.items():
        page.fill(f"#fill-fields textarea[data-field='{name}']", value)
    page.click("#show-preview")
    page.wait_for_selector("#preview", state="visible")
    return page.locator("#person-preview .person-preview")


def test_risk_summary_and_the_preview_in_the_persons_language(
    server: str, browser: Any, ctx: GatewayContext, registry: Registry, clock: FixedClock, tmp_path: Path,
    db_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = server
    with httpx.Client(base_url=base) as http:
        headers = agency_headers(http, registry, clock, SENDER, base, ctx)
        french, arabic, hausa = (_person(http, headers, lang) for lang in ("fr", "ar", "ha"))
    page, _member = signed_in(browser, base, ctx, SENDER, 360)
    import_key(page, key_file(registry, SENDER, tmp_path))

    for lang in i18n.LANGUAGES:
        open_workspace(page, base, lang)
        # Only a name is asked for: the rules want the risk summary with a referral to a shelter.
        _plan(page, french, ["subject.preferred_name"])
        page.wait_for_selector("#risk-summary", state="visible")
        owed = page.locator("#obligations li")
        obligations = {str(owed.nth(i).get_attribute("data-obligation")): owed.nth(i).text_content()
                       for i in range(owed.count())}
        assert "include_risk_summary" in obligations and "person_preview_required" in obligations, obligations
        assert obligations["person_preview_required"] == translated(
            lang, "The person must see the preview in their language and agree before anything is sent.")
        assert page.is_visible("#risk-summary-missing")
        # With a risk field: no warning; what will be seen is named by kind, in the caseworker's language.
        _plan(page, french, ["subject.preferred_name", "risk.known_risks", "health.conditions"])
        assert not page.is_visible("#risk-summary-missing")
        seen = page.locator("#will-see li").all_text_contents()
        assert f"{translated(lang, 'Risks and safety plan')}: risk.known_risks" in seen, seen
        assert page.text_content("#held-back") == "1"
        assert page.text_content("#plan-basis") == translated(lang, "The person's consent")
        # The person's language is recorded as French: the preview is French whatever this page is in.
        assert page.input_value("#preview-language") == "fr"
        assert page.is_visible("#person-language-known")
        preview = _preview(page, {"subject.preferred_name": NAME, "risk.known_risks": RISK})
        assert preview.get_attribute("lang") == "fr" and preview.get_attribute("dir") == "ltr"
        text = str(preview.text_content())
        for words in ("What will be sent, if you agree", "A safe place to stay", "Risks and safety plan",
                      "Do you agree that this is sent?"):
            assert translated("fr", words) in text, (lang, words)
        assert RISK in text and NAME in text
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"workspace-risk-summary-{lang}-{width}")
        page.set_viewport_size({"width": 360, "height": 900})
    assert serious_axe_violations(page) == []

    open_workspace(page, base, "en")
    # Arabic: the preview reads right to left, in Arabic, inside an English page.
    _plan(page, arabic, ["risk.known_risks"])
    assert page.input_value("#preview-language") == "ar"
    preview = _preview(page, {"risk.known_risks": RISK})
    assert preview.get_attribute("lang") == "ar" and preview.get_attribute("dir") == "rtl"
    assert translated("ar", "Do you agree that this is sent?") in str(preview.text_content())
    screenshot(page, "workspace-preview-ar-in-en-360")
    # Hausa is recorded but the page has no Hausa: the caseworker is told to read it with an interpreter.
    _plan(page, hausa, ["risk.known_risks"])
    assert page.is_visible("#person-language-missing") and page.text_content("#person-language") == "ha"
    assert page.input_value("#preview-language") == "en"

    # The French-speaking person agrees to the French preview, and it is sealed and sent.
    _plan(page, french, ["subject.preferred_name", "risk.known_risks"])
    _preview(page, {"subject.preferred_name": NAME, "risk.known_risks": RISK})
    page.click("#approve-send")
    pin_key(page, fingerprint(registry.keys[RECIPIENT].public().encryption, "x25519"))
    page.wait_for_selector("#sent", state="visible")
    dumped = database_text(db_url)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("Quillfeather", "Thistlewood"):
        assert secret not in dumped and secret not in logged
    assert page.evaluate("JSON.stringify(Object.assign({}, localStorage))").count("Quillfeather") == 0
