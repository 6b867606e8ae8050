"""The DPO console's consent page: purpose, recipients, scope, state history, who recorded it
(pseudonymous staff ids) and the audit entries naming it, without payload values; in five
languages; linked from the person's page (Chromium: test_consent_browser.py)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway import i18n
from gateway.audit import subject_keys
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.consent.conftest import consent_body
from tests.console.conftest import StaffLogin, sign_in
from tests.exchange.conftest import FIELDS, open_case
from tests.support.pseudonyms import subject_of
from tests.support.staff import People

Auth = Any
TEMPLATE = i18n.TEMPLATE_DIR / "console" / "consent.html"
SAME_IN_TRANSLATION = {("fr", "Version"), ("fr", "Action")}


@dataclass
class Story:
    subject_id: str
    first: str
    second: str
    other: str


def _story(client: TestClient, auth: Auth) -> Story:
    """A consent granted, used for a plan, amended to add a recipient, the amendment withdrawn; and
    another consent of the same person (for another purpose) that the page must not mix in."""
    case = open_case(client, auth)
    planned = client.post("/v1/plans", headers=auth("ngo"), json={"subject_id": case.subject_id,
                          "recipient_agency_id": "shelter", "purpose": "shelter", "fields": sorted(FIELDS)})
    assert planned.status_code == 200 and planned.json()["basis"]["consent_ids"] == [case.consent_id], planned.text
    amended = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        case.subject_id, supersedes=case.consent_id,
        recipients=[{"agency_id": "shelter"}, {"agency_id": "clinic"}]))
    assert amended.status_code == 201, amended.text
    second = amended.json()["consent"]["id"]
    withdrawn = client.post(f"/v1/consents/{second}/withdraw", headers=auth("ngo"),
                            json={"channel": "portal"})
    assert withdrawn.status_code == 200, withdrawn.text
    other = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        case.subject_id, purpose="healthcare", recipients=[{"agency_id": "clinic"}], data_classes=["D1"]))
    assert other.status_code == 201, other.text
    return Story(case.subject_id, case.consent_id, second, other.json()["consent"]["id"])


def test_a_consent_page_shows_what_who_and_its_history_without_payloads(
    client: TestClient, auth: Auth, registry: Registry, dpo: StaffLogin, ctx: GatewayContext, people: People,
) -> None:
    story = _story(client, auth)
    staff = people.default_id("ngo")  # the signed-in caseworker the agency's system acted for
    assert client.get(f"/console/consents/{story.first}", follow_redirects=False).status_code == 303  # signed out
    assert sign_in(client, dpo).status_code == 303
    with ctx.sessions() as session:  # before this page's own view is logged (a later visit lists it too)
        about = subject_keys.matches(AuditEntry.subject_id, story.subject_id)
        entries = session.scalars(select(AuditEntry).where(about)).all()
    page = client.get(f"/console/consents/{story.first}")
    assert page.status_code == 200 and page.headers["content-language"] == "en"
    text = page.text
    assert f"Consent <code>{story.first}</code>" in text and "superseded" in text
    assert "<code>shelter</code>" in text and "<code>relevant_portion</code>" in text  # purpose, scope
    assert "D12" in text and "Identity core" in text  # classes and their legend
    assert "<td>shelter</td>" in text  # recipients
    assert f"<code>{staff}</code> (caseworker)" in text  # who recorded it: a pseudonymous staff id
    # State history: both versions of the lineage, the amendment withdrawn by the person's portal.
    assert f'href="/console/consents/{story.second}?lang=en"' in text and "withdrawn" in text
    assert f"by the agency <code>{staff}</code> (ngo) · <code>portal</code>" in text  # who ended it, how
    # The audit entries that name the lineage, linked; not the other consent's, no entry details.
    named = {e.seq for e in entries if story.first in str(e.basis) + str(e.details)
             or story.second in str(e.basis) + str(e.details)}
    foreign = {e.seq for e in entries if story.other in str(e.basis) + str(e.details)}
    linked = {int(s) for s in re.findall(r'href="/console/entries/(\d+)"', text)}
    assert named and linked == named and not linked & foreign
    actions = set(re.findall(r"<td><code>([a-z:_]+)</code></td>", text))
    assert {"consent:record:grant", "consent:record:supersede", "consent:record:withdraw",
            "exchange:plan:create"} <= actions, actions
    assert "Reference ids and codes" not in text  # entry details stay on the entry's own page
    assert all(value not in text for value in ("Amina", "preferred_name"))
    # Looking is logged under the person; the person page links here.
    with ctx.sessions() as session:
        views = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:log:view")).all()
    assert any((v.details or {}).get("consent_id") == story.first and subject_of(ctx, v.subject_id) == story.subject_id
               for v in views)
    assert f'href="/console/consents/{story.first}"' in client.get(f"/console/people/{story.subject_id}").text
    assert client.get("/console/consents/cns_nobody").status_code == 404
    assert client.get("/console/consents/has%20space").status_code == 422


def test_the_consent_page_speaks_five_languages(
    client: TestClient, auth: Auth, registry: Registry, dpo: StaffLogin,
) -> None:
    story = _story(client, auth)
    assert sign_in(client, dpo).status_code == 303
    url = f"/console/consents/{story.first}"
    headings = {"en": "Who recorded it", "fr": "Qui l'a enregistré", "es": "Quién lo registró",
                "ru": "Кто его записал", "ar": "من سجّلها"}
    for lang, heading in headings.items():
        page = client.get(url, params={"lang": lang})
        assert page.headers["content-language"] == lang
        assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in page.text
        assert heading in html.unescape(page.text), lang
    chosen = client.get(url, headers={"Accept-Language": "ru-RU, fr;q=0.8"})
    assert chosen.headers["content-language"] == "ru" and "История состояний" in chosen.text
    assert client.get(url, params={"lang": "xx"}).headers["content-language"] == "en"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_string_of_the_consent_page_is_translated(lang: str) -> None:
    catalogue = i18n.read_catalogue(lang)
    msgids = list(dict.fromkeys(str(m) for _, m, _, _ in extract_from_file(
        "jinja2", str(TEMPLATE), options={"extensions": "jinja2.ext.i18n"})))
    assert len(msgids) > 40
    missing = [m for m in msgids if m not in catalogue or not catalogue[m].string or catalogue[m].fuzzy]
    assert missing == [], f"{lang}: untranslated {missing}"
    for m in msgids:
        assert set(re.findall(r"%\(\w+\)s", m)) == set(re.findall(r"%\(\w+\)s", str(catalogue[m].string))), (lang, m)
    if lang != "en":
        copied = [m for m in msgids if catalogue[m].string == m and (lang, m) not in SAME_IN_TRANSLATION]
        assert copied == [], f"{lang}: copied, not translated: {copied}"
