"""The person's portal in real headless Chromium (Debian's, driven by Playwright), at 360 px.

These run on SQLite only: they test what the browser does (cookies, redirects, history and
Back, script on and off, layout, right-to-left, accessibility), which does not depend on the
database, and each costs seconds of browser time; the same flows run on both databases
through the HTTP tests of this folder. The quick exit goes to a stand-in "weather site" served
on another local port (another origin), since this machine reaches no other site.
Screenshots land in test-artifacts/screenshots/portal-*.png.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from gateway import i18n
from gateway.context import GatewayContext
from gateway.portal.models import PortalAlert, PortalRequest
from gateway.settings import Settings
from tests.conftest import ISSUER, Registry, empty_database
from tests.exchange.conftest import Case, plan, sealed, submit
from tests.portal.conftest import OWNER, Auth, PortalPerson, make_person
from tests.support.browser import screenshot, serious_axe_violations

PHONE = {"width": 360, "height": 740}

# No skip when Chromium is missing (as for the console): a browser test that silently skips proves nothing.
pytestmark = [pytest.mark.browser]


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only (see tests/support/browser.py); emptied afterwards like the shared fixture."""
    yield sqlite_database
    empty_database(sqlite_database)


class _Weather(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html lang='en'><title>Weather</title><h1>Weather today</h1><p>Sunny.</p></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def weather() -> Iterator[str]:
    """An ordinary site on another origin (another port) for the quick exit to land on."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Weather)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/weather"
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, weather: str) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER, argon2_time_cost=1,
                    argon2_memory_kib=8, background_worker=False, portal_exit_url=weather)


def _phone(browser: Any, *, js: bool = True) -> Any:
    context = browser.new_context(viewport=PHONE, java_script_enabled=js, device_scale_factor=1)
    return context.new_page()


def _shot(page: Any, name: str) -> None:
    screenshot(page, f"portal-{name}")


def _sign_in(page: Any, base: str, person: PortalPerson, pin: str | None = None) -> None:
    page.goto(f"{base}/p/")
    page.fill("#code", person.code)
    page.fill("#pin", pin or person.pin)
    page.click("#sign-in")
    page.wait_for_selector("#sign-out, #sign-in-error")
    # The element exists as soon as the new page is parsed; its stylesheet may still be loading.
    page.wait_for_load_state("load")


def _layout_problems(page: Any) -> list[str]:
    """Tap targets under 44 px, and anything wider than the 360-px screen."""
    return list(page.evaluate("""() => {
        const out = [];
        if (document.documentElement.scrollWidth > window.innerWidth + 1) {
            out.push('page scrolls sideways: ' + document.documentElement.scrollWidth);
        }
        for (const el of document.querySelectorAll('button, a.exit, a.button, .menu a, input, select')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) continue;
            if (r.height < 44 || r.width < 44) out.push(el.outerHTML.slice(0, 80) + ' ' + r.width + 'x' + r.height);
        }
        return out;
    }"""))


# ---------------------------------------------------------------------------- the main path


@pytest.mark.rule("CR14", "S04")
def test_sign_in_withdraw_and_the_next_referral_is_refused(
    server: str, browser: Any, client: TestClient, auth: Auth, registry: Registry, clock: FixedClock
) -> None:
    person = make_person(client, auth)
    case = Case(subject_id=person.subject_id, consent_id=person.consent_id)
    pending = sealed(client, auth, registry, plan(client, auth, case))  # relies on the consent
    page = _phone(browser)
    _sign_in(page, server, person)
    assert page.title() == "My account"
    assert page.locator("article.card").count() == 1
    assert "shelter agency" in page.text_content("main")
    assert _layout_problems(page) == []
    assert serious_axe_violations(page) == []
    _shot(page, "home-en")
    page.click("button.stop")
    page.wait_for_selector("#withdrawn")
    assert "You stopped: A safe place to stay." in page.text_content("#withdrawn")
    assert serious_axe_violations(page) == []
    _shot(page, "withdrawn-en")
    clock.advance(timedelta(seconds=1))
    refused = submit(client, auth, pending)
    assert refused.status_code in (409, 422) and refused.json()["reason"] == "consent_withdrawn"
    assert plan(client, auth, case)["allow"] is False
    page.goto(f"{server}/p/past")
    assert "You stopped this on" in page.text_content("main")


# ---------------------------------------------------------------------------- back-off


@pytest.mark.rule("ASVS-6.3.1")
def test_back_off_says_how_long_to_wait_and_waiting_is_enough(
    server: str, browser: Any, client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
    clock: FixedClock
) -> None:
    person = make_person(client, auth)
    page = _phone(browser)
    for _ in range(ctx.settings.portal_code_free_failures + 1):
        _sign_in(page, server, person, pin="999999")
        assert "This did not work." in page.text_content("#sign-in-error")
    _sign_in(page, server, person)
    assert "Please wait" in page.text_content("#sign-in-error")
    assert serious_axe_violations(page) == []
    _shot(page, "wait-en")
    clock.advance(timedelta(seconds=ctx.settings.portal_max_delay_s + 1))  # no advocate needed
    _sign_in(page, server, person)
    assert page.locator("#sign-out").count() == 1


# ---------------------------------------------------------------------------- duress


def test_duress_pin_shows_the_cards_consents_and_alerts_quietly(
    server: str, browser: Any, client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext
) -> None:
    person = make_person(client, auth)
    assert person.duress_pin
    before = client.get(f"/v1/subjects/{person.subject_id}/consents", headers=auth(OWNER)).json()
    page = _phone(browser)
    _sign_in(page, server, person, pin=person.duress_pin)
    assert page.title() == "My account"
    assert page.locator("#sign-out").count() == 1
    assert page.locator("article.card").count() == 1  # what the card shows is in force
    assert "shelter agency" in page.text_content("main")
    page.click("article.card button")  # withdraw: answered as for real, kept nowhere
    assert "You stopped" in page.text_content("main")
    for path in ("/p/past", "/p/shared", "/p/requests"):
        page.goto(f"{server}{path}")
        assert "alert" not in page.content().lower()
    _shot(page, "duress-en")
    with ctx.sessions() as session:
        alerts = list(session.scalars(select(PortalAlert)))
        requests = session.scalar(select(func.count()).select_from(PortalRequest))
    assert [(a.subject_id, a.code) for a in alerts] == [(person.subject_id, "duress_sign_in")]
    assert requests == 0
    assert client.get("/v1/alerts", headers=auth(OWNER)).json()["alerts"][0]["id"] == alerts[0].id
    after = client.get(f"/v1/subjects/{person.subject_id}/consents", headers=auth(OWNER)).json()
    assert after == before
    assert [c["status"] for c in after] == ["in_force"]


# ---------------------------------------------------------------------------- quick exit


def test_quick_exit_ends_the_session_and_back_does_not_show_the_account(
    server: str, browser: Any, client: TestClient, auth: Auth, registry: Registry, weather: str
) -> None:
    person = make_person(client, auth)
    page = _phone(browser)
    _sign_in(page, server, person)
    page.goto(f"{server}/p/shared")
    assert page.locator("#sign-out").count() == 1
    page.click("#quick-exit")
    page.wait_for_url(weather)
    assert page.text_content("h1") == "Weather today"
    assert not [c for c in page.context.cookies() if c["name"] == "__Host-sid"]
    page.go_back()
    page.wait_for_selector("#sign-in, #sign-out")
    assert page.url.startswith(server)
    assert page.locator("#sign-out").count() == 0
    assert "shelter agency" not in page.content()
    assert page.locator("#sign-in").count() == 1
    # Shift three times leaves too (script on).
    _sign_in(page, server, person)
    page.wait_for_load_state("load")  # the deferred script has run
    for _ in range(3):
        page.keyboard.press("Shift")
    page.wait_for_url(weather)


# ---------------------------------------------------------------------------- no JavaScript


def test_everything_works_without_javascript(
    server: str, browser: Any, client: TestClient, auth: Auth, registry: Registry, weather: str
) -> None:
    person = make_person(client, auth)
    page = _phone(browser, js=False)
    _sign_in(page, server, person)
    assert page.locator("#sign-out").count() == 1
    page.click("button.stop")
    page.wait_for_selector("#withdrawn")
    assert "You stopped: A safe place to stay." in page.text_content("#withdrawn")
    assert client.get(f"/v1/consents/{person.consent_id}", headers=auth(OWNER)).json()["status"] == "withdrawn"
    page.goto(f"{server}/p/complaint")
    page.fill("#message", "Nobody told me.")
    page.click("#send")
    page.wait_for_selector("#sent")
    page.click("button[value=fr]")
    page.wait_for_selector("html[lang=fr]")
    page.click("#quick-exit")
    page.wait_for_url(weather)
    assert not [c for c in page.context.cookies() if c["name"] == "__Host-sid"]
    page.go_back()
    page.wait_for_selector("#sign-in, #sign-out")
    assert page.locator("#sign-out").count() == 0 and page.locator("#sign-in").count() == 1


# ---------------------------------------------------------------------------- languages, RTL, accessibility


def test_every_language_at_360_px_with_arabic_right_to_left(
    server: str, browser: Any, client: TestClient, auth: Auth, registry: Registry
) -> None:
    problems: dict[str, list[str]] = {}
    exit_x: dict[str, float] = {}
    for lang in i18n.LANGUAGES:
        person = make_person(client, auth, language=lang)
        case = Case(subject_id=person.subject_id, consent_id=person.consent_id)
        sent = submit(client, auth, sealed(client, auth, registry, plan(client, auth, case)), key=f"k-{lang}")
        assert sent.status_code == 201, sent.text
        page = _phone(browser)
        page.goto(f"{server}/p/")
        page.click(f"button[value={lang}]")
        page.wait_for_selector(f"html[lang={lang}]")
        _shot(page, f"sign-in-{lang}")
        _sign_in(page, server, person)
        # Measure only once the stylesheet applies: before it, an inline link in RTL starts at the right.
        page.wait_for_load_state("load")
        html = page.locator("html")
        assert html.get_attribute("lang") == lang
        assert html.get_attribute("dir") == i18n.text_direction(lang)
        assert page.title() == i18n.translations().catalogues[lang]["My account"].string
        box = page.locator("#quick-exit").bounding_box()
        exit_x[lang] = box["x"] + box["width"] / 2
        problems[f"{lang} home"] = serious_axe_violations(page) + _layout_problems(page)
        _shot(page, f"home-{lang}")
        for path in ("/p/shared", "/p/rules", "/p/complaint"):
            page.goto(f"{server}{path}")
            problems[f"{lang} {path}"] = serious_axe_violations(page) + _layout_problems(page)
        _shot(page, f"complaint-{lang}")
        page.context.close()
    assert {k: v for k, v in problems.items() if v} == {}
    # The layout mirrors: the quick exit sits at the end of the line, right in LTR, left in RTL.
    assert exit_x["en"] > PHONE["width"] / 2 > exit_x["ar"]
