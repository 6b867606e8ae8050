"""Shared steps of the workspace's browser tests: a live gateway whose issuer is its own URL, a staff
member signed in with a virtual passkey, the agency key imported on the device, and the agency's
system acting for a signed-in person over HTTP (for the set-up a test does not drive in the browser).

Import the fixtures into a test module (``from tests.workspace.workspace_support import base,
server, settings``); ``db_url`` stays the default, so these tests run on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from consent.clock import FixedClock
from crypto.keys import save_key_file
from gateway import i18n
from gateway.context import GatewayContext
from gateway.settings import Settings
from tests.conftest import Registry
from tests.support.live_server import reserve_port, serve
from tests.support.staff import StaffMember, account_generation, exchange_form, new_staff

PASSPHRASE = "a long passphrase for this tablet"


@pytest.fixture
def base() -> str:
    return f"http://localhost:{reserve_port()}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path, base: str) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=base,
                    argon2_time_cost=1, argon2_memory_kib=8, background_worker=False)


@pytest.fixture
def server(app: FastAPI, base: str) -> Iterator[str]:
    with serve(app, port=int(base.rsplit(":", 1)[1]), lifespan="on"):
        yield base


def translated(lang: str, msgid: str) -> str:
    """``msgid`` as the catalogue of ``lang`` translates it (English: the msgid itself)."""
    if lang == "en":
        return msgid
    return str(i18n.read_catalogue(lang)[msgid].string)


def agency_headers(http: httpx.Client, registry: Registry, clock: FixedClock, agency: str, base: str,
                   ctx: GatewayContext, *roles: str) -> dict[str, str]:
    """The agency's system acting for a newly created signed-in staff member (RFC 8693)."""
    member = new_staff(ctx, agency, *(roles or ("caseworker",)), password=None)
    person, _ttl = ctx.tokens.issue_person_token(member.account_id, agency, ctx.clock.now(),
                                                 account_generation(ctx, member.account_id))
    form = exchange_form(registry, agency, person, clock, token_url=f"{base}/oauth/token")
    response = http.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def key_file(registry: Registry, agency: str, directory: Path) -> Path:
    path = directory / f"{agency}.key.json"
    if not path.exists():
        save_key_file(path, registry.keys[agency])
    return path


def signed_in(browser: Any, base: str, ctx: GatewayContext, agency: str, width: int, *roles: str,
              prf: bool = False, member: StaffMember | None = None) -> tuple[Any, StaffMember]:
    """A browser context with its own virtual passkey; the staff member enrols, signs in with it, and
    opens /w."""
    member = member or new_staff(ctx, agency, *(roles or ("caseworker",)), password=None)
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True, "hasPrf": prf}})
    page.goto(f"{base}/staff/enrol?code={member.enrolment_code}")
    page.fill("#new-password", "correct horse battery staple")
    page.click("#create-passkey")
    page.wait_for_selector("#enrolled", state="visible")
    page.goto(f"{base}/staff/sign-in")
    page.wait_for_load_state("load")
    page.click("#passkey-sign-in")
    page.wait_for_url(f"{base}/staff")
    page.goto(f"{base}/w/")
    page.wait_for_selector("html[data-ready='true']")
    return page, member


def import_key(page: Any, path: Path) -> None:
    """Import the agency's key file on this device, protected by the passphrase."""
    page.set_input_files("#key-file", str(path))
    page.fill("#new-passphrase", PASSPHRASE)
    page.click("#import-key")
    page.wait_for_selector("#key-status[data-state='unlocked']")


def open_workspace(page: Any, base: str, lang: str) -> None:
    """Open /w in ``lang`` and unlock the key stored on this device."""
    page.goto(f"{base}/w/?lang={lang}")
    page.wait_for_selector("html[data-ready='true']")
    page.fill("#passphrase", PASSPHRASE)
    page.click("#unlock")
    page.wait_for_selector("#key-status[data-state='unlocked']")


def pin_key(page: Any, fingerprint_text: str) -> None:
    """Type the fingerprint the other agency read out, when the page asks for it."""
    page.wait_for_selector("#pin", state="visible")
    page.fill("#pin-fingerprint", fingerprint_text)
    page.click("#pin-key")


def database_text(db_url: str) -> str:
    """Every row of every table, as text (to show a value is nowhere in the gateway's database)."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(db_url)
    meta = MetaData()
    meta.reflect(engine)
    chunks: list[str] = []
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            chunks.extend(repr(tuple(row)) for row in connection.execute(select(table)))
    engine.dispose()
    return "\n".join(chunks)
