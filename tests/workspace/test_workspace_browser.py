"""Two agencies' workspaces in real Chromium, each staff member signed in with a virtual passkey.

The NGO's caseworker imports the agency key file on the device (kept only encrypted, Argon2id from a
passphrase), asks what may go, fills the permitted fields, shows the person the preview, confirms the
shelter's key by the fingerprint read out to them (a wrong one is refused), and the browser seals,
signs and sends. The shelter's coordinator confirms the NGO's signing key, opens and verifies the
referral in the browser, acknowledges it and downloads it in the referral schema. Afterwards no
payload value is in the gateway's database or logs. Screenshots at 360 and 1280 px, in five languages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, create_engine, select

from consent.clock import FixedClock
from crypto.encoding import b64u_encode
from crypto.keys import fingerprint, save_key_file
from gateway import i18n
from gateway.context import GatewayContext
from gateway.settings import Settings
from tests.conftest import Registry, empty_database
from tests.consent.conftest import consent_body, subject_body
from tests.support.browser import screenshot, serious_axe_violations
from tests.support.live_server import reserve_port, serve
from tests.support.staff import account_generation, exchange_form, new_staff
from tests.workspace.workspace_support import signed_in

pytestmark = [pytest.mark.browser]

SENDER, RECIPIENT = "ngo", "shelter"
FIELDS = {"subject.preferred_name": "Amina Kettleworth-Oyelaran",
          "risk.known_risks": "Controller searched the Brightwater shelter on Tuesday"}
PASSPHRASE = "a long passphrase for this tablet"
SECRETS = ["Kettleworth", "Brightwater"]


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    yield sqlite_database
    empty_database(sqlite_database)


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


def _agency(http: httpx.Client, registry: Registry, clock: FixedClock, agency: str, base: str,
            ctx: GatewayContext) -> dict[str, str]:
    """The agency's system acting for a signed-in caseworker (subjects and consents are a person's acts)."""
    member = new_staff(ctx, agency, "caseworker", password=None)
    person, _ttl = ctx.tokens.issue_person_token(member.account_id, agency, ctx.clock.now(),
                                                 account_generation(ctx, member.account_id))
    form = exchange_form(registry, agency, person, clock, token_url=f"{base}/oauth/token")
    response = http.post("/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _open_case(http: httpx.Client, headers: dict[str, str]) -> str:
    subject = http.post("/v1/subjects", headers=headers, json=subject_body())
    assert subject.status_code == 201, subject.text
    subject_id = str(subject.json()["id"])
    consent = http.post("/v1/consents", headers=headers, json=consent_body(
        subject_id, purpose="shelter", recipients=[{"agency_id": RECIPIENT}], data_classes=["D1", "D5", "D12"]))
    assert consent.status_code == 201, consent.text
    return subject_id


def _signed_in_workspace(browser: Any, base: str, ctx: GatewayContext, agency: str, width: int, *,
                         prf: bool) -> Any:
    """A browser context with its own virtual passkey (with or without the PRF extension); the staff
    member enrols, signs in with it, and opens /w."""
    page, _member = signed_in(browser, base, ctx, agency, width, prf=prf)
    return page


def _import_key(page: Any, key_file: Path, *, passkey: bool) -> None:
    assert page.get_attribute("#key-status", "data-state") == "none"
    page.set_input_files("#key-file", str(key_file))
    if passkey:
        page.click("#import-key-passkey")
    else:
        page.fill("#new-passphrase", PASSPHRASE)
        page.click("#import-key")
    page.wait_for_selector("#key-status[data-state='unlocked']")


def _database_text(db_url: str) -> str:
    engine = create_engine(db_url)
    meta = MetaData()
    meta.reflect(engine)
    chunks: list[str] = []
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            chunks.extend(repr(tuple(row)) for row in connection.execute(select(table)))
    engine.dispose()
    return "\n".join(chunks)


def test_two_agencies_send_and_receive_in_the_browser(
    server: str, browser: Any, ctx: GatewayContext, registry: Registry, clock: FixedClock, tmp_path: Path,
    db_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = server
    key_files = {}
    for agency in (SENDER, RECIPIENT):
        key_files[agency] = tmp_path / f"{agency}.key.json"
        save_key_file(key_files[agency], registry.keys[agency])
    with httpx.Client(base_url=base) as http:
        subject_id = _open_case(http, _agency(http, registry, clock, SENDER, base, ctx))

    # --- the NGO's caseworker, on a phone-sized screen -------------------------------------------
    sender = _signed_in_workspace(browser, base, ctx, SENDER, 360, prf=False)
    assert serious_axe_violations(sender) == []
    screenshot(sender, "workspace-key-import-360")
    # A file that is not a key file, or another agency's key file, is refused.
    sender.set_input_files("#key-file", str(key_files[RECIPIENT]))
    sender.fill("#new-passphrase", PASSPHRASE)
    sender.click("#import-key")
    sender.wait_for_selector("#key-message:has-text('another agency')")
    assert sender.evaluate("localStorage.length") == 0
    # This authenticator has no PRF: the passkey cannot protect the key, a passphrase must.
    sender.set_input_files("#key-file", str(key_files[SENDER]))
    sender.click("#import-key-passkey")
    sender.wait_for_selector("#key-message:has-text('passphrase')")
    assert sender.evaluate("localStorage.length") == 0
    _import_key(sender, key_files[SENDER], passkey=False)
    # Kept only encrypted: neither private key is in the browser's storage in any form.
    stored = sender.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    for secret in (registry.keys[SENDER].signing_seed, registry.keys[SENDER].encryption_private):
        assert b64u_encode(secret) not in stored
    assert "argon2id13" in stored
    # Locked, it opens only with the passphrase; nothing that needs the key is on screen.
    sender.click("#lock-key")
    sender.wait_for_selector("#key-status[data-state='locked']")
    for hidden in ("#send", "#inbox", "#people", "#sections", "#key-actions", "#unlock-passkey", "#import-form"):
        assert not sender.is_visible(hidden), hidden
    sender.fill("#passphrase", "not the passphrase at all")
    sender.click("#unlock")
    sender.wait_for_selector("#key-message:has-text('passphrase')")
    assert sender.get_attribute("#key-status", "data-state") == "locked"
    sender.fill("#passphrase", PASSPHRASE)
    sender.click("#unlock")
    sender.wait_for_selector("#key-status[data-state='unlocked']")

    # The agency's people: the case is listed; a new person is added with the form.
    try:
        sender.locator(f"#people-list li:has-text('{subject_id}')").wait_for()
    except Exception:
        raise AssertionError(sender.text_content("#people-message")) from None
    sender.select_option("#p-age-band", "25-34")
    sender.fill("#p-language", "ha")
    sender.fill("#p-country", "ng")
    sender.click("#add-person")
    sender.wait_for_selector("#person-added", state="visible")
    added = str(sender.text_content("#person-added-id"))
    sender.locator(f"#people-list li:has-text('{added}')").wait_for()
    with ctx.sessions() as session:
        from consent.subjects import Subject
        person = session.get(Subject, added)
        assert person is not None and person.owner_agency_id == SENDER and person.country_of_origin == "NG"
    sender.locator(f"#people-list li:has-text('{subject_id}') .refer").click()
    assert sender.input_value("#subject-id") == subject_id
    sender.select_option("#recipient", RECIPIENT)
    sender.select_option("#purpose", "shelter")
    sender.click("#field-choice summary")
    for name in [*FIELDS, "health.conditions"]:
        sender.check(f"#plan-form input[value='{name}']")
    sender.click("#plan")
    sender.wait_for_selector("#plan-result", state="visible")
    permitted = sender.locator("#permitted-list li").all_text_contents()
    assert sorted(permitted) == sorted(FIELDS)
    assert any(text.startswith("health.conditions") for text in sender.locator("#denied-list li").all_text_contents())
    for name, value in FIELDS.items():
        sender.fill(f"#fill-fields textarea[data-field='{name}']", value)
    sender.select_option("#preview-language", "fr")
    sender.click("#show-preview")
    sender.wait_for_selector("#preview", state="visible")
    assert FIELDS["subject.preferred_name"] in str(sender.text_content("#preview-fields"))
    assert sender.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(sender, "workspace-send-preview-360")
    sender.click("#approve-send")
    # First contact: the shelter's key must be confirmed by the fingerprint it read out.
    sender.wait_for_selector("#pin", state="visible")
    assert sender.text_content("#pin-agency") == RECIPIENT
    shelter_public = registry.keys[RECIPIENT].public()
    # A substituted key (the fingerprint of another agency's key) is refused, nothing is sent.
    sender.fill("#pin-fingerprint", fingerprint(registry.keys["police"].public().encryption, "x25519"))
    sender.click("#pin-key")
    sender.wait_for_selector("#pin-message:has-text('does not match')")
    assert not sender.is_visible("#sent")
    sender.fill("#pin-fingerprint", fingerprint(shelter_public.encryption, "x25519").lower().replace("-", " "))
    sender.click("#pin-key")
    sender.wait_for_selector("#sent", state="visible")
    envelope_id = str(sender.text_content("#sent-id"))
    screenshot(sender, "workspace-sent-360")

    # --- the shelter's coordinator, at a desk --------------------------------------------------
    recipient = _signed_in_workspace(browser, base, ctx, RECIPIENT, 1280, prf=True)
    _import_key(recipient, key_files[RECIPIENT], passkey=True)
    stored = recipient.evaluate("localStorage.getItem('safe-referral/workspace-key/shelter')")
    assert json.loads(stored)["kdf"] == "webauthn-prf"
    assert b64u_encode(registry.keys[RECIPIENT].encryption_private) not in stored
    recipient.click("#lock-key")
    recipient.wait_for_selector("#key-status[data-state='locked']")
    recipient.click("#unlock-passkey")
    recipient.wait_for_selector("#key-status[data-state='unlocked']")
    item = recipient.locator(f"#inbox-list li[data-envelope='{envelope_id}']")
    item.wait_for()
    # A sender key that differs from the one confirmed on this device is refused, nothing is opened.
    recipient.evaluate("""(pin) => localStorage.setItem('safe-referral/workspace-pins/shelter',
                                                        JSON.stringify({ngo: {ed25519: pin}}))""",
                       {"public_key": registry.keys["police"].public().signing_b64, "fingerprint": "X"})
    item.locator(".open").click()
    item.locator(".message:has-text('changed')").wait_for()
    assert not item.locator(".opened").is_visible()
    recipient.evaluate("localStorage.removeItem('safe-referral/workspace-pins/shelter')")
    item.locator(".open").click()
    recipient.wait_for_selector("#pin", state="visible")
    recipient.fill("#pin-fingerprint", fingerprint(registry.keys[SENDER].public().signing, "ed25519"))
    recipient.click("#pin-key")
    item.locator(".opened").wait_for(state="visible")
    opened = str(item.locator("tbody").text_content())
    assert all(value in opened for value in FIELDS.values())
    assert serious_axe_violations(recipient) == []
    assert recipient.evaluate("document.documentElement.scrollWidth") <= 1280
    screenshot(recipient, "workspace-inbox-opened-1280")
    with recipient.expect_download() as download:
        item.locator(".download").click()
    document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert document["referral_id"] == envelope_id and document["sender_agency_id"] == SENDER
    assert document["data"]["subject"]["preferred_name"] == FIELDS["subject.preferred_name"]
    assert document["preview_hash"].startswith("hmac-sha256:")
    item.locator(".ack").click()
    item.locator(".acked").wait_for(state="visible")
    with httpx.Client(base_url=base) as http:
        outbox = http.get(f"/v1/outbox/{envelope_id}", headers=_agency(http, registry, clock, SENDER, base, ctx))
        assert outbox.status_code == 200, outbox.text
        assert outbox.json()["status"] == "acknowledged", outbox.json()

    # Wiping removes the key from the device; the indicator says so.
    recipient.once("dialog", lambda dialog: dialog.accept())
    recipient.click("#wipe-key")
    recipient.wait_for_selector("#key-status[data-state='none']")
    assert recipient.evaluate("localStorage.getItem('safe-referral/workspace-key/shelter')") is None

    # The gateway's database and logs hold no payload value.
    dumped = _database_text(db_url)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in SECRETS:
        assert secret not in dumped and secret not in logged

    # Five languages, right to left for Arabic, at both widths.
    for lang in i18n.LANGUAGES:
        for page, width in ((sender, 360), (recipient, 1280)):
            page.goto(f"{base}/w/?lang={lang}")
            page.wait_for_selector("html[data-ready='true']")
            assert page.get_attribute("html", "lang") == lang
            assert page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            screenshot(page, f"workspace-{lang}-{width}")
