"""Refusals in plain words, in the caseworker's language, in real Chromium on both databases.

A plan the rules refuse shows what each reason means and what to do next (never a bare code); a
field held back shows why; a send the gateway refuses at the last moment (the person withdrew
their consent after the plan) says so; and a reason this page has no sentence for (a newer
gateway) shows a safe generic sentence with the code. Five languages, Arabic right to left,
screenshots at 360 and 1280 px.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent.clock import FixedClock
from crypto.keys import fingerprint
from gateway import i18n
from gateway.context import GatewayContext
from gateway.workspace.refusals import UNKNOWN, refusals
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.support.browser import screenshot, serious_axe_violations
from tests.workspace import workspace_support as ws
from tests.workspace.workspace_support import (
    agency_headers,
    import_key,
    key_file,
    open_workspace,
    pin_key,
    signed_in,
    translated,
)

base, settings, server = ws.base, ws.settings, ws.server  # the live gateway's fixtures

REFUSALS = refusals()
pytestmark = [pytest.mark.browser]

SENDER, RECIPIENT = "ngo", "shelter"
VALUE = "Controller watches the Larkspur bus station"


def _case(http: httpx.Client, headers: dict[str, str]) -> tuple[str, str]:
    subject = http.post("/v1/subjects", headers=headers, json=subject_body())
    assert subject.status_code == 201, subject.text
    subject_id = str(subject.json()["id"])
    consent = http.post("/v1/consents", headers=headers, json=consent_body(
        subject_id, purpose="shelter", recipients=[{"agency_id": RECIPIENT}], data_classes=["D1", "D5", "D12"]))
    assert consent.status_code == 201, consent.text
    return subject_id, str(consent.json()["consent"]["id"])


def _plan(page: Any, subject_id: str, purpose: str, fields: list[str]) -> None:
    page.fill("#subject-id", subject_id)
    page.select_option("#recipient", RECIPIENT)
    page.select_option("#purpose", purpose)
    if not page.is_visible("#plan-form fieldset"):
        page.click("#field-choice summary")
    page.eval_on_selector_all("#plan-form input[name='field']", "boxes => boxes.forEach((b) => { b.checked = false; })")
    for name in fields:
        page.check(f"#plan-form input[value='{name}']")
    page.click("#plan")
    page.wait_for_selector("#plan-result", state="visible")


def test_refusals_are_shown_in_plain_words_in_five_languages(
    server: str, browser: Any, ctx: GatewayContext, registry: Registry, clock: FixedClock, tmp_path: Path,
) -> None:
    base = server
    with httpx.Client(base_url=base) as http:
        headers = agency_headers(http, registry, clock, SENDER, base, ctx)
        subject_id, consent_id = _case(http, headers)
    page, _member = signed_in(browser, base, ctx, SENDER, 360)
    import_key(page, key_file(registry, SENDER, tmp_path))

    for lang in i18n.LANGUAGES:
        open_workspace(page, base, lang)
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        # Health care was never consented to: the plan is refused, and every reason is a sentence.
        _plan(page, subject_id, "healthcare", ["subject.preferred_name"])
        page.wait_for_selector("#plan-refused", state="visible")
        items = page.locator("#refusal-list li")
        codes = [str(items.nth(i).get_attribute("data-reason")) for i in range(items.count())]
        assert codes and all(code in REFUSALS for code in codes), codes
        for i, code in enumerate(codes):
            assert items.nth(i).text_content() == translated(lang, REFUSALS[code]), (lang, code)
        assert not page.is_visible("#fill-form")
        # A field held back shows why, in the same words.
        _plan(page, subject_id, "shelter", ["subject.preferred_name", "health.conditions"])
        denied = page.locator("#denied-list li[data-reason]").filter(has_text="health.conditions")
        code = str(denied.get_attribute("data-reason"))
        assert code in REFUSALS
        assert denied.text_content() == f"health.conditions: {translated(lang, REFUSALS[code])}"
        assert not page.is_visible("#plan-refused")
        _plan(page, subject_id, "healthcare", ["subject.preferred_name"])
        for width in (360, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"workspace-refusal-{lang}-{width}")
        page.set_viewport_size({"width": 360, "height": 900})
    assert serious_axe_violations(page) == []

    # A reason this page has no sentence for: the safe generic sentence, and the code.
    open_workspace(page, base, "fr")
    problem = {"type": "urn:safe-referral:problem:x", "title": "x", "status": 422,
               "reason": "a_reason_from_a_newer_gateway", "detail": "x"}
    page.route("**/v1/plans", lambda route: route.fulfill(status=422, content_type="application/problem+json",
                                                         body=json.dumps(problem)))
    _plan_without_waiting(page, subject_id)
    page.wait_for_selector("#send-message[data-reason='a_reason_from_a_newer_gateway']")
    assert page.text_content("#send-message") == f"{translated('fr', UNKNOWN)} (a_reason_from_a_newer_gateway)"
    page.unroute("**/v1/plans")

    # Refused at the last moment: the person withdrew their consent after the plan and the preview.
    open_workspace(page, base, "en")
    _plan(page, subject_id, "shelter", ["risk.known_risks"])
    page.fill("#fill-fields textarea[data-field='risk.known_risks']", VALUE)
    page.click("#show-preview")
    page.wait_for_selector("#preview", state="visible")
    with httpx.Client(base_url=base) as http:
        withdrawn = http.post(f"/v1/consents/{consent_id}/withdraw", json={"channel": "in_person"},
                              headers=agency_headers(http, registry, clock, SENDER, base, ctx))
        assert withdrawn.status_code == 200, withdrawn.text
    page.click("#approve-send")
    pin_key(page, fingerprint(registry.keys[RECIPIENT].public().encryption, "x25519"))
    page.wait_for_selector("#send-message[data-reason='consent_withdrawn']")
    assert page.text_content("#send-message") == REFUSALS["consent_withdrawn"]
    assert not page.is_visible("#sent")
    screenshot(page, "workspace-refusal-send-360")


def _plan_without_waiting(page: Any, subject_id: str) -> None:
    page.fill("#subject-id", subject_id)
    page.select_option("#recipient", RECIPIENT)
    page.select_option("#purpose", "shelter")
    if not page.is_visible("#plan-form fieldset"):
        page.click("#field-choice summary")
    page.check("#plan-form input[value='risk.known_risks']")
    page.click("#plan")
