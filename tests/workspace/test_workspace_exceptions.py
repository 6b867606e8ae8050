"""The lawful-exception second approval and what is addressed to the agency, in real Chromium on
both databases.

A supervisor asks for an exception in the browser, for a case the agency published (an unknown
pseudonym is refused in plain words); their page shows it waiting and offers them no approval, and
a tampered page that offers it anyway is refused by the gateway in plain words (four eyes:
exception_self_approval). A second supervisor, signed in with their own passkey, sees it and
approves it. The agency's notices and alerts are listed in plain words (a duress sign-in on the
portal raises a real alert); a notice kind the page has no sentence for shows a safe generic
sentence and the kind. Five languages, 360 and 1280 px.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from consent.clock import FixedClock
from gateway import i18n
from gateway.context import GatewayContext
from gateway.exceptions.service import notify_agency
from gateway.workspace.notices import NOTICE_KINDS, UNKNOWN_NOTICE
from gateway.workspace.refusals import refusals
from tests.conftest import Registry
from tests.consent.conftest import consent_body, subject_body
from tests.exceptions.conftest import POLICY, grant_body, publish
from tests.support.browser import screenshot, serious_axe_violations
from tests.support.staff import new_staff
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

AGENCY = "ngo"
PIN, DURESS = "582947", "739164"


def test_second_approval_notices_and_alerts_in_the_browser(
    server: str, browser: Any, ctx: GatewayContext, registry: Registry, clock: FixedClock, tmp_path: Path,
) -> None:
    base = server
    publish(ctx, AGENCY, POLICY)
    requester = new_staff(ctx, AGENCY, "supervisor", password=None)
    with httpx.Client(base_url=base) as http:
        headers = agency_headers(http, registry, clock, AGENCY, base, ctx)
        subject = http.post("/v1/subjects", headers=headers, json=subject_body())
        assert subject.status_code == 201, subject.text
        subject_id = str(subject.json()["id"])
        consent = http.post("/v1/consents", headers=headers, json=consent_body(subject_id))
        assert consent.status_code == 201, consent.text
        code = str(consent.json()["access_code"])
        pins = http.post(f"/v1/subjects/{subject_id}/portal-access/pin", headers=headers,
                         json={"pin": PIN, "duress_pin": DURESS})
        assert pins.status_code == 200, pins.text
    with ctx.sessions() as session, session.begin():
        notify_agency(session, AGENCY, subject_id, "exception_used", now=clock.now(),
                      details={"basis": "L4", "grant_id": "exg_earlier", "recipient_agency_id": "clinic"})
        notify_agency(session, AGENCY, subject_id, "a_kind_from_a_newer_gateway", now=clock.now())
    # A duress sign-in on the portal: the person sees an empty account, the agency gets a silent alert.
    portal = browser.new_context(viewport={"width": 360, "height": 800}).new_page()
    portal.goto(f"{base}/p/")
    portal.fill("#code", code)
    portal.fill("#pin", DURESS)
    portal.click("#sign-in")
    portal.wait_for_selector("#news-title")
    portal.close()

    # The requester, signed in with their passkey, asks in the browser, for a case the agency published.
    page, _ = signed_in(browser, base, ctx, AGENCY, 360, member=requester)
    import_key(page, key_file(registry, AGENCY, tmp_path))
    body = grant_body(subject_id)
    page.click("#grant-request summary")
    page.fill("#g-subject", "subj_nobody_has_this_pseudonym")
    page.select_option("#g-case", f"{body['basis']}|{body['scenario']}")
    page.select_option("#g-recipient", body["recipient_agency_id"])
    page.select_option("#g-purpose", body["purpose"])
    page.select_option("#g-classes", body["classes"])
    page.select_option("#g-fields", body["fields"])
    page.fill("#g-justification", body["justification_code"])
    page.fill("#g-reference", body["justification_ref"])
    page.click("#ask-exception")
    # A pseudonym the agency does not know: refused in plain words, nothing asked.
    page.wait_for_selector("#exceptions-message[data-reason='unknown_subject']")
    assert page.text_content("#exceptions-message") == REFUSALS["unknown_subject"]
    assert page.locator("#grant-list li").count() == 0
    page.fill("#g-subject", subject_id)
    page.click("#ask-exception")
    item = page.locator("#grant-list li[data-status='requested']")
    item.wait_for()
    grant_id = str(item.get_attribute("data-grant"))
    with httpx.Client(base_url=base) as http:
        asked = http.get(f"/v1/exceptions/{grant_id}", headers=headers).json()
    # The requester is the signed-in person, from their token: the form has no such field.
    assert asked["requested_by"] == requester.account_id and asked["basis"] == body["basis"]
    assert asked["classes"] == body["classes"] and asked["fields"] == body["fields"]
    item = page.locator(f"#grant-list li[data-grant='{grant_id}']")
    # Their request waits; no approval is offered to them.
    assert item.get_attribute("data-status") == "requested"
    assert item.locator(".g-status").text_content() == "Waiting for a second approval"
    assert item.locator(".g-own").is_visible() and not item.locator(".g-approve").is_visible()
    # A tampered page offers it anyway: the gateway refuses, in plain words.
    page.eval_on_selector(f"#grant-list li[data-grant='{grant_id}'] .g-approve", "b => { b.hidden = false; }")
    item.locator(".g-approve").click()
    item.locator(".message[data-reason='exception_self_approval']").wait_for()
    assert item.locator(".message").text_content() == REFUSALS["exception_self_approval"]
    with httpx.Client(base_url=base) as http:
        still = http.get(f"/v1/exceptions/{grant_id}", headers=headers)
        assert still.json()["status"] == "requested", still.text
    screenshot(page, "workspace-exception-own-360")

    # A second supervisor, with their own passkey, approves it.
    approver, approver_member = signed_in(browser, base, ctx, AGENCY, 1280, "supervisor", prf=True)
    import_key(approver, key_file(registry, AGENCY, tmp_path))
    theirs = approver.locator(f"#grant-list li[data-grant='{grant_id}']")
    theirs.wait_for()
    assert not theirs.locator(".g-own").is_visible()
    theirs.locator(".g-approve").click()
    approver.locator(f"#grant-list li[data-grant='{grant_id}'][data-status='approved']").wait_for()
    with httpx.Client(base_url=base) as http:
        approved = http.get(f"/v1/exceptions/{grant_id}", headers=headers).json()
    assert approved["status"] == "approved" and approved["approved_by"] == approver_member.account_id
    assert approved["requested_by"] == requester.account_id
    assert not approver.locator(f"#grant-list li[data-grant='{grant_id}'] .g-approve").is_visible()
    assert serious_axe_violations(approver) == []

    # Notices and alerts in plain words, in five languages, at both widths.
    for lang in i18n.LANGUAGES:
        open_workspace(approver, base, lang)
        notice = approver.locator("#notice-list li[data-kind='exception_used'] .n-text")
        notice.wait_for()
        assert notice.text_content() == translated(lang, NOTICE_KINDS["exception_used"])
        unknown = approver.locator("#notice-list li[data-kind='a_kind_from_a_newer_gateway'] .n-text")
        assert unknown.text_content() == f"{translated(lang, UNKNOWN_NOTICE)} (a_kind_from_a_newer_gateway)"
        alert = approver.locator("#alert-list li[data-code='duress_sign_in'] .a-text")
        assert alert.text_content() == translated(lang, NOTICE_KINDS["duress_sign_in"])
        assert approver.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
        approver.locator("#exceptions").scroll_into_view_if_needed()
        for width in (360, 1280):
            approver.set_viewport_size({"width": width, "height": 900})
            assert approver.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(approver, f"workspace-exceptions-{lang}-{width}")
