"""Passkey sign-in, the TOTP fallback, recovery and revocation, in real Chromium on both databases.

Chromium's DevTools protocol gives a virtual platform authenticator (CTAP2, internal transport,
resident keys, user verification): the page runs the real WebAuthn ceremonies against it and the
gateway verifies them with py_webauthn. WebAuthn needs a domain as RP id, so the gateway is served
as ``http://localhost:<port>`` (a secure context) with that URL as its issuer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.settings import Settings
from gateway.staff import service
from gateway.staff.models import StaffCredential
from tests.conftest import Registry
from tests.support.browser import screenshot, serious_axe_violations
from tests.support.live_server import reserve_port, serve
from tests.support.staff import PASSWORD, exchange_form, new_staff, totp_code

pytestmark = [pytest.mark.browser]



@pytest.fixture
def base() -> str:
    """The gateway's own URL (its issuer and the passkeys' origin), on a port reserved for this test."""
    return f"http://localhost:{reserve_port()}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path, base: str) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=base,
                    argon2_time_cost=1, argon2_memory_kib=8, background_worker=False)


@pytest.fixture
def server(app: FastAPI, base: str) -> Iterator[str]:
    with serve(app, port=int(base.rsplit(":", 1)[1]), lifespan="on"):
        yield base


def _authenticator(context: Any, page: Any) -> tuple[Any, str]:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, str(added["authenticatorId"])


def _enrol(page: Any, base: str, code: str, password: str = PASSWORD) -> str:
    page.goto(f"{base}/staff/enrol?code={code}")
    page.fill("#new-password", password)
    page.click("#create-passkey")
    page.wait_for_selector("#enrolled", state="visible")
    return str(page.text_content("#enrolled-username"))


def _passkey_sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/staff/sign-in")
    page.wait_for_load_state("load")  # the page's script has bound the button
    page.click("#passkey-sign-in")


def _sign_out(page: Any, base: str) -> None:
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/staff/sign-in")


def _tags(ctx: GatewayContext) -> list[str]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_passkey_sign_in_person_token_fallback_recovery_and_revocation(
    server: str, browser: Any, ctx: GatewayContext, registry: Registry, clock: FixedClock,
) -> None:
    base = server
    member = new_staff(ctx, "iom", "caseworker", password=None)
    context = browser.new_context()
    page = context.new_page()
    cdp, authenticator = _authenticator(context, page)

    # Enrolment with the administrator's one-time code registers a passkey on the device.
    page.goto(f"{base}/staff/sign-in")
    assert serious_axe_violations(page) == []
    assert _enrol(page, base, member.enrolment_code) == member.username
    with ctx.sessions() as session:
        assert session.scalar(select(StaffCredential.account_id)) == member.account_id
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    # The code works once.
    page.goto(f"{base}/staff/enrol?code={member.enrolment_code}")
    page.fill("#new-password", PASSWORD)
    page.click("#create-passkey")
    page.wait_for_selector("#enrol-error", state="visible")

    # Passkey sign-in: no user name typed, the passkey says who it is.
    _passkey_sign_in(page, base)
    page.wait_for_url(f"{base}/staff")
    assert page.text_content("#who") == member.username
    assert page.text_content("#roles") == "caseworker"
    assert serious_axe_violations(page) == []
    screenshot(page, "staff-signed-in")

    # A person token, exchanged by the agency's client (RFC 8693), acts for this person.
    page.click("button:has-text('Get a person token')")
    person_token = str(page.text_content("#person-token")).strip()
    with httpx.Client(base_url=base) as http:
        exchanged = http.post("/oauth/token", data=exchange_form(registry, "iom", person_token, clock,
                                                                 token_url=f"{base}/oauth/token"))
        assert exchanged.status_code == 200, exchanged.text
        acting = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
        me = http.get("/v1/staff/me", headers=acting).json()
        assert me["person"]["account_id"] == member.account_id
        # ... once, and only for the agency it was issued for.
        again = http.post("/oauth/token", data=exchange_form(registry, "iom", person_token, clock,
                                                              token_url=f"{base}/oauth/token"))
        assert again.status_code == 400 and again.json()["reason"] == "invalid_grant"
    _sign_out(page, base)

    # The fallback: user name, password and a code from the authenticator app.
    page.fill("#username", member.username)
    page.fill("#password", PASSWORD)
    page.fill("#code", totp_code(ctx, member.account_id))
    page.click("button:has-text('Sign in with a code')")
    page.wait_for_url(f"{base}/staff")
    assert page.text_content("#who") == member.username
    _sign_out(page, base)

    # Lost device: the administrator recovers the account. The old passkey stops working ...
    hasher_ctx = ctx.settings
    from crypto.passwords import SecretHasher
    from gateway.audit.log import Actor

    hasher = SecretHasher(time_cost=hasher_ctx.argon2_time_cost, memory_cost=hasher_ctx.argon2_memory_kib)
    admin = Actor(agency_id="iom", role="iom", user="stf_admin")
    with ctx.sessions() as session, session.begin():
        recovery = service.recover_account(session, agency_id="iom", account_id=member.account_id, hasher=hasher,
                                           actor=admin, now=clock.now())
    _passkey_sign_in(page, base)
    page.wait_for_selector("#passkey-error", state="visible")
    assert page.url == f"{base}/staff/sign-in"
    # ... and so does the old password with a fresh code.
    page.fill("#username", member.username)
    page.fill("#password", PASSWORD)
    page.fill("#code", totp_code(ctx, member.account_id, 1))
    page.click("button:has-text('Sign in with a code')")
    page.wait_for_selector("#signin-error")

    # A new device enrols with the recovery code and signs in.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    cdp, authenticator = _authenticator(context, page)
    assert _enrol(page, base, recovery.code, "a new password for a new phone") == member.username
    _passkey_sign_in(page, base)
    page.wait_for_url(f"{base}/staff")
    page.click("button:has-text('Get a person token')")
    second_token = str(page.text_content("#person-token")).strip()

    # Revocation: the passkey, the person token and an exchanged token all stop working.
    with httpx.Client(base_url=base) as http:
        exchanged = http.post("/oauth/token", data=exchange_form(registry, "iom", second_token, clock,
                                                                 token_url=f"{base}/oauth/token"))
        assert exchanged.status_code == 200
        acting = {"Authorization": f"Bearer {exchanged.json()['access_token']}"}
        with ctx.sessions() as session, session.begin():
            service.revoke_account(session, agency_id="iom", account_id=member.account_id, actor=admin,
                                   now=clock.now())
        refused = http.get("/v1/staff/me", headers=acting)
        assert refused.status_code == 401 and refused.json()["reason"] == "person_not_active"
    page.goto(f"{base}/staff")
    page.wait_for_url(f"{base}/staff/sign-in")  # the session ended with the revocation
    _passkey_sign_in(page, base)
    page.wait_for_selector("#passkey-error", state="visible")
    context.close()

    tags = _tags(ctx)
    for tag in (AuditTag.STAFF_ACCOUNT_CREATE, AuditTag.STAFF_PASSKEY_REGISTER, AuditTag.STAFF_SIGN_IN,
                AuditTag.STAFF_PERSON_TOKEN, AuditTag.STAFF_ACCOUNT_RECOVER, AuditTag.STAFF_ACCOUNT_REVOKE,
                AuditTag.STAFF_SIGN_IN_FAIL, AuditTag.CONSOLE_SIGN_IN):
        assert tag.value in tags, tag
