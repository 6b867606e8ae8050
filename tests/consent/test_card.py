"""The person's printable card: translated into every language, one page, no script, no external resource."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from fastapi.testclient import TestClient

from gateway import i18n
from gateway.consent_api.card import CARD_CSP
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from tests.conftest import register
from tests.consent.conftest import Auth

Grant = Callable[..., dict[str, Any]]
TEMPLATE = i18n.TEMPLATE_DIR / "consent" / "card.html"
NAMES = i18n.TEMPLATE_DIR / "names.html"
"""The plain words for codes, shared with the portal pages."""


def template_msgids() -> list[str]:
    found = [m for path in (TEMPLATE, NAMES)
             for m in extract_from_file("jinja2", str(path), options={"extensions": "jinja2.ext.i18n"})]
    return list(dict.fromkeys(str(message) for _, message, _, _ in found))


def shared_catalogue_msgids() -> set[str]:
    """Msgids of the other templates that share the catalogue (the person's portal pages, the console's
    consent page, the agency workspace)."""
    found: set[str] = set()
    paths = [*(i18n.TEMPLATE_DIR / "portal").glob("*.html"), *(i18n.TEMPLATE_DIR / "workspace").glob("*.html"),
             i18n.TEMPLATE_DIR / "console" / "consent.html"]
    for path in sorted(paths):
        found.update(str(m) for _, m, _, _ in extract_from_file("jinja2", str(path),
                                                                options={"extensions": "jinja2.ext.i18n"}))
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_card_string_is_translated(lang: str) -> None:
    """A msgid without a translation in any of the five languages fails the build."""
    catalogue = i18n.read_catalogue(lang)
    msgids = template_msgids()
    assert len(msgids) > 50
    missing = [m for m in msgids if m not in catalogue or not catalogue[m].string or catalogue[m].fuzzy]
    assert missing == [], f"{lang}: untranslated {missing}"
    for m in msgids:
        placeholders = set(re.findall(r"%\(\w+\)s", m))
        assert placeholders == set(re.findall(r"%\(\w+\)s", str(catalogue[m].string))), (lang, m)
    used = set(msgids) | shared_catalogue_msgids()
    stale = [str(m.id) for m in catalogue if m.id and m.id not in used]
    assert stale == [], f"{lang}: entries no template uses {stale}"
    if lang != "en":
        same = [m for m in msgids if catalogue[m].string == m and m not in {"Version", "Portal", "Statistics"}]
        assert same == [], f"{lang}: copied, not translated: {same}"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


def _card(client: TestClient, auth: Auth, consent_id: str, query: str = "", **headers: str) -> Any:
    response = client.get(f"/v1/consents/{consent_id}/card{query}", headers={**auth("ngo"), **headers})
    return response


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_card_is_in_the_chosen_language_self_contained_and_printable(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant, lang: str
) -> None:
    consent_id = grant(new_subject())["consent"]["id"]
    response = _card(client, auth, consent_id, f"?lang={lang}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == lang
    html = response.text
    parser = _Tags()
    parser.feed(html)
    (root,) = [attrs for tag, attrs in parser.tags if tag == "html"]
    assert root == {"lang": lang, "dir": "rtl" if lang == "ar" else "ltr"}
    title = i18n.read_catalogue(lang)["Your consent record"].string
    assert f"<title>{title}</title>" in html
    # Nothing to fetch and nothing to run: works offline, without JS.
    assert not [t for t, _ in parser.tags if t in {"script", "link", "img", "iframe", "object", "embed", "form"}]
    assert not [a for _, a in parser.tags for k, v in a.items() if k in {"src", "href", "action"}]
    assert "url(" not in parser.style and "@import" not in parser.style
    assert "@page" in parser.style and "@media print" in parser.style
    # The inline style is allowed by its hash, and nothing else is.
    csp = response.headers["content-security-policy"]
    assert csp == CARD_CSP
    assert i18n.csp_hash(parser.style) in csp and "default-src 'none'" in csp and "unsafe" not in csp


def test_card_defaults_to_the_person_s_preferred_language(client: TestClient, auth: Auth,
                                                         new_subject: Callable[..., str], grant: Grant) -> None:
    french = grant(new_subject(preferred_language="fr-CA"), language="fr")["consent"]["id"]
    assert _card(client, auth, french).headers["content-language"] == "fr"
    tigrinya = grant(new_subject(preferred_language="ti"), language="ti")["consent"]["id"]
    assert _card(client, auth, tigrinya).headers["content-language"] == "en"  # no catalogue yet: English
    assert _card(client, auth, tigrinya, "?lang=ar").headers["content-language"] == "ar"
    assert _card(client, auth, tigrinya, "?lang=%3Cscript%3E").status_code == 422


def test_card_shows_the_access_code_only_with_the_code_just_issued(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant
) -> None:
    sid = new_subject()
    first = grant(sid)
    code = first["access_code"]
    consent_id = first["consent"]["id"]
    without = _card(client, auth, consent_id).text
    assert code not in without and "Use the access code you already have." in without
    shown = _card(client, auth, consent_id, **{"Portal-Access-Code": code})
    assert shown.status_code == 200
    assert code in shown.text and "This code is shown only once." in shown.text
    wrong = _card(client, auth, consent_id, **{"Portal-Access-Code": "2222-2222-2222-2222"})
    assert wrong.status_code == 422
    assert wrong.json()["reason"] == "access_code_invalid"


@pytest.mark.rule("CR15", "CR16")
def test_card_for_criminal_justice_says_co_operation_is_optional_and_open_cases_continue(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant
) -> None:
    """CR15 is told at consent time as well as at withdrawal; CR16/CR17 that nothing depends on it."""
    cid = grant(new_subject(), purpose="criminal_justice", recipients=[{"agency_id": "police"}],
                cj_option="anonymous_intelligence_only", scope="case_specific_no_personal_data")["consent"]["id"]
    html = _card(client, auth, cid, "?lang=en").text
    assert "does not change your support, your place to stay or your status" in html
    assert "information already in an open criminal case may still be used" in html
    assert "Give information without your name only" in html
    client.post(f"/v1/consents/{cid}/withdraw", headers=auth("ngo"), json={"channel": "phone"})
    assert "You withdrew this consent on" in _card(client, auth, cid, "?lang=en").text


@pytest.mark.browser
def test_worst_case_card_prints_on_one_page_in_every_language(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant, ctx: GatewayContext,
    tmp_path: Path
) -> None:
    """Real Chromium prints the longest possible card on one A4 page in each language, fetching nothing."""
    import playwright.sync_api as playwright
    register(ctx, "iom-ua", AgencyKind.IOM, jurisdiction="UA")
    register(ctx, "legal-aid-rotterdam", AgencyKind.LEGAL_AID)
    sid = new_subject()
    first = grant(sid, purpose="criminal_justice", cj_option="formal_report_and_witness", scope="full",
                  channel="phone", data_classes=[f"D{n}" for n in range(1, 27)],
                  recipients=[{"agency_id": "police"}, {"agency_id": "legal-aid-rotterdam"},
                              {"agency_id": "iom-ua", "country": "UA", "organisation": "iom-ua agency"}])
    cid = first["consent"]["id"]
    pages = {}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            for lang in i18n.LANGUAGES:
                html = _card(client, auth, cid, f"?lang={lang}", **{"Portal-Access-Code": first["access_code"]}).text
                page.set_content(html)
                pdf = page.pdf(format="A4", print_background=False)
                pages[lang] = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
                page.screenshot(path=str(tmp_path / f"card-{lang}.png"), full_page=True)
        finally:
            browser.close()
    assert requests == []
    assert pages == dict.fromkeys(i18n.LANGUAGES, 1)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_person_may_print_the_code_apart_from_the_recipients(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], grant: Grant, lang: str
) -> None:
    """Issue 17: whoever takes the card must not learn both the code and the shelter."""
    first = grant(new_subject())
    code, consent_id = first["access_code"], first["consent"]["id"]
    together = _card(client, auth, consent_id, f"?lang={lang}", **{"Portal-Access-Code": code}).text
    assert 'class="tear-off"' not in together  # the default: one page, as before
    apart = _card(client, auth, consent_id, f"?lang={lang}&layout=separate", **{"Portal-Access-Code": code})
    assert apart.status_code == 200
    first_page, second_page = apart.text.split('<section class="tear-off"', 1)
    assert "shelter agency" in first_page and code not in first_page
    assert code in second_page and "shelter agency" not in second_page
    assert i18n.read_catalogue(lang)[
        "Keep this page apart from the other page: together they show where you can be found."].string in second_page
    assert "break-before: page" in apart.text
    assert _card(client, auth, consent_id, "?layout=sideways").status_code == 422
