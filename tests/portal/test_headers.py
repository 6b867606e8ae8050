"""Every portal response, signed in and out: the strict header set, no resource from another
origin, no inline script or style, a neutral title, and no line in the access log."""

from __future__ import annotations

import logging
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from gateway import i18n
from tests.portal.conftest import PortalPerson, csrf_of, sign_in

SIGNED_OUT = ["/p/", "/p/?left=1", "/p/past", "/p/shared", "/p/rules", "/p/requests", "/p/correction",
              "/p/complaint"]
SIGNED_IN = ["/p/", "/p/past", "/p/shared", "/p/rules", "/p/requests", "/p/requests?sent=1", "/p/correction",
             "/p/complaint"]
STATIC = ["/p/s/portal.css", "/p/s/exit.js", "/p/s/icon.svg", "/p/s/missing.txt"]
REDIRECTS = ["/portal", "/p/exit"]
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data", "srcset", "background", "cite"}
# Words that would tell someone looking at the phone (tab, history, bookmarks) what this is.
REVEALING = ("traffick", "victim", "gateway", "referral", "abuse", "exploit", "police", "shelter", "портал",
             "торгов", "жертв", "trata", "víctima", "traite", "الاتجار", "ضحية")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.inline: list[str] = []
        self.title = ""
        self._in_title = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                self.urls.append((tag, name, value))
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag}[{name}]")
        if tag == "style":
            self.inline.append("style element")
        if tag == "script" and not dict(attrs).get("src"):
            self.inline.append("inline script")
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def check_headers(response: Response, where: str) -> None:
    h = response.headers
    csp = h["content-security-policy"]
    assert "default-src 'self'" in csp, where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp, where
    assert "frame-ancestors 'none'" in csp, where
    assert h["referrer-policy"] == "no-referrer", where
    assert "no-store" in h["cache-control"], where
    assert h["x-frame-options"] == "DENY", where
    assert h["x-content-type-options"] == "nosniff", where
    assert "noindex" in h["x-robots-tag"], where


def check_same_origin(html: str, where: str) -> Page:
    page = Page()
    page.feed(html)
    for tag, name, value in page.urls:
        parts = urlsplit(value.strip())
        assert not parts.scheme and not parts.netloc, f"{where}: {tag}[{name}]={value} leaves the origin"
        assert not value.strip().startswith("//"), where
    assert page.inline == [], f"{where}: inline script or style {page.inline}"
    return page


def fetch_all(client: TestClient, paths: list[str]) -> dict[str, Response]:
    return {path: client.get(path, follow_redirects=False) for path in paths}


@pytest.mark.rule("ASVS-14.3.2", "ASVS-3.4")
def test_every_portal_response_has_the_headers_and_no_external_resource(
    client: TestClient, person: PortalPerson
) -> None:
    client.cookies.clear()
    responses = fetch_all(client, SIGNED_OUT + STATIC + REDIRECTS)
    form = client.get("/p/")
    responses["POST /p/sign-in (failed)"] = client.post("/p/sign-in", data={
        "csrf_token": csrf_of(form.text), "code": "AAAA", "pin": "1"})
    assert sign_in(client, person.code, person.pin).status_code == 303
    for path, response in fetch_all(client, SIGNED_IN).items():
        responses[f"signed in {path}"] = response
    token = csrf_of(client.get("/p/").text)
    responses["POST /p/requests (empty)"] = client.post("/p/requests", data={"csrf_token": token,
                                                                             "kind": "complaint", "message": ""})
    responses["POST withdraw"] = client.post(f"/p/choices/{person.consent_id}/withdraw", data={"csrf_token": token})
    responses["POST withdraw again"] = client.post(f"/p/choices/{person.consent_id}/withdraw",
                                                   data={"csrf_token": token})
    responses["POST /p/lang"] = client.post("/p/lang", data={"csrf_token": token, "lang": "ar"},
                                            follow_redirects=False)
    responses["POST forged"] = client.post("/p/requests", data={"csrf_token": "x"})
    responses["POST /p/leave"] = client.post("/p/leave", data={"csrf_token": token}, follow_redirects=False)
    titles = set()
    for where, response in responses.items():
        assert response.status_code < 500, where
        check_headers(response, where)
        if response.headers.get("content-type", "").startswith("text/html"):
            page = check_same_origin(response.text, where)
            titles.add(page.title)
    assert titles == {"My account", "حسابي"}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_titles_are_neutral_in_every_language(client: TestClient, person: PortalPerson, lang: str) -> None:
    assert sign_in(client, person.code, person.pin).status_code == 303
    client.post("/p/lang", data={"csrf_token": csrf_of(client.get("/p/").text), "lang": lang})
    for path in SIGNED_IN:
        page = check_same_origin(client.get(path).text, path)
        assert page.title and not any(word in page.title.casefold() for word in REVEALING), (lang, page.title)


def test_the_icon_and_the_cookie_are_neutral(client: TestClient, person: PortalPerson) -> None:
    icon = client.get("/p/s/icon.svg").text.casefold()
    assert not any(word in icon for word in REVEALING)
    response = sign_in(client, person.code, person.pin)
    cookie_name = response.headers["set-cookie"].split("=", 1)[0]
    assert not any(word in cookie_name.casefold() for word in (*REVEALING, "portal", "victim"))


def test_portal_requests_are_not_in_the_access_log(client: TestClient, person: PortalPerson,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.http"):
        client.get("/healthz")
        control = [r for r in caplog.records if r.name == "gateway.http"]
        assert control, "the access log is not where this test looks"
        caplog.clear()
        assert sign_in(client, person.code, person.pin).status_code == 303
        fetch_all(client, SIGNED_IN + STATIC + REDIRECTS)
        client.get("/p/exit", follow_redirects=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.http"]
    assert lines == [], lines
