"""The demo's person: a pseudonymous subject with a consent and a portal PIN, made through the
gateway's own API (in process, as the advocacy service would over HTTP), so the newcomer can
sign in to the portal with the access code and PIN the demo prints.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.assertion import token_request_form
from connectors.client import JWT_TOKEN_TYPE, TOKEN_EXCHANGE
from consent.portal_access import PIN_MAX, PIN_MIN
from crypto.keys import AgencyKeyPair, load_key_file

from .accounts import StaffAccount
from .app import build_context, create_app
from .context import GatewayContext
from .settings import Settings

ADVOCATE = "advocate-demo"
RECIPIENT = "shelter-demo"
STAFF = {"staff_id": "advocate-7", "role": "advocate"}
EXPLAINED = ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"]


@dataclass(frozen=True)
class DemoPerson:
    subject_id: str
    access_code: str
    pin: str


def demo_pin() -> str:
    """Random digits, as many as the portal asks for (six, or its minimum if that is longer)."""
    length = min(max(6, PIN_MIN), PIN_MAX)
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _acting_for_caseworker(api: TestClient, ctx: GatewayContext, settings: Settings,
                           keys: AgencyKeyPair) -> dict[str, str]:
    """Headers of the advocacy service's client acting for its demo caseworker (RFC 8693 exchange of
    the person token the caseworker would get by signing in)."""
    staff = json.loads((settings.data_dir / "demo-staff.json").read_text())
    username = staff["caseworker"]["username"]
    with ctx.sessions() as session:
        account = session.execute(select(StaffAccount.id, StaffAccount.generation)
                                  .where(StaffAccount.username == username)).first()
    if account is None:
        raise RuntimeError("the demo caseworker's account is missing")
    person_token, _ttl = ctx.tokens.issue_person_token(str(account.id), ADVOCATE, ctx.clock.now(), account.generation)
    form = token_request_form(ADVOCATE, keys.signing_seed, settings.issuer.rstrip("/") + "/oauth/token",
                              now=ctx.clock.now().timestamp())
    form.update(grant_type=TOKEN_EXCHANGE, subject_token=person_token, subject_token_type=JWT_TOKEN_TYPE)
    exchanged = api.post("/oauth/token", data=form)
    exchanged.raise_for_status()
    return {"Authorization": f"Bearer {exchanged.json()['access_token']}"}


def create_demo_person(settings: Settings, key_file_dir: str) -> DemoPerson:
    """Record a subject and a consent naming the shelter (as the advocacy service), and set a PIN."""
    quiet = settings.model_copy(update={"background_worker": False, "log_level": "WARNING"})
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ctx = build_context(quiet)
    try:
        with TestClient(create_app(context=ctx), base_url=settings.issuer) as api:
            keys = load_key_file(f"{key_file_dir}/{ADVOCATE}.json")
            # A subject, a consent and a PIN name the staff member with the person: the advocacy
            # service's client acts for its signed-in caseworker (never on its own).
            auth = _acting_for_caseworker(api, ctx, settings, keys)
            subject = api.post("/v1/subjects", headers=auth, json={
                "attributes": {"age_band": "25-34", "preferred_language": "en"}})
            subject.raise_for_status()
            subject_id = str(subject.json()["id"])
            consent = api.post("/v1/consents", headers=auth, json={
                "subject_id": subject_id, "purpose": "shelter", "recipients": [{"agency_id": RECIPIENT}],
                "scope": "relevant_portion", "data_classes": ["D1", "D5", "D12"], "explained_items": EXPLAINED,
                "notice_version": "shelter-notice-1", "language": "en", "channel": "in_person",
                "capacity": "has_capacity",
                "expires_at": (ctx.clock.now() + timedelta(days=90)).isoformat()})
            consent.raise_for_status()
            code = str(consent.json()["access_code"])
            pin = demo_pin()
            pinned = api.post(f"/v1/subjects/{subject_id}/portal-access/pin", headers=auth, json={"pin": pin})
            pinned.raise_for_status()
    finally:
        ctx.engine.dispose()
    return DemoPerson(subject_id=subject_id, access_code=code, pin=pin)
