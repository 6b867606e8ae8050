"""Staff fixtures (a pytest plugin loaded by tests/conftest.py): accounts created the way an agency
administrator creates them, enrolled for the password + code fallback, and person tokens exchanged
through the real token endpoint (RFC 8693)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.assertion import token_request_form
from consent.clock import FixedClock
from crypto.passwords import SecretHasher
from gateway.accounts import StaffAccount
from gateway.audit.log import Actor
from gateway.context import GatewayContext
from gateway.staff import service
from gateway.staff.models import StaffEnrolment

ISSUER = "https://testserver"
#: The staff member each agency's client acts for when a test names nobody (``auth(agency)``): recording
#: a consent, creating a subject and planning need a signed-in person, never the agency's system alone.
DEFAULT_PERSON = "staff-17"
DEFAULT_ROLES = ("caseworker",)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
PASSWORD = "correct horse battery staple"


@dataclass
class StaffMember:
    account_id: str
    username: str
    agency_id: str
    roles: list[str]
    enrolment_code: str


def new_staff(ctx: GatewayContext, agency_id: str, *roles: str, password: str | None = PASSWORD) -> StaffMember:
    """An account as the agency administrator creates it; with ``password``, its fallback credentials
    are set as enrolment would set them (the passkey half is exercised in Chromium)."""
    hasher = SecretHasher(time_cost=ctx.settings.argon2_time_cost, memory_cost=ctx.settings.argon2_memory_kib)
    with ctx.sessions() as session, session.begin():
        enrolment = service.create_account(session, agency_id=agency_id, roles=list(roles), hasher=hasher,
                                           actor=Actor(agency_id=agency_id, role="test", user="bootstrap"),
                                           now=ctx.clock.now())
        if password is not None:
            account = session.get(StaffAccount, enrolment.account_id)
            assert account is not None
            account.password_hash = hasher.hash(password)
    return StaffMember(enrolment.account_id, enrolment.username, agency_id, list(roles), enrolment.code)


def totp_secret(ctx: GatewayContext, account_id: str) -> str:
    with ctx.sessions() as session:
        secret = session.scalar(select(StaffAccount.totp_secret).where(StaffAccount.id == account_id))
    assert secret
    return str(secret)


def totp_code(ctx: GatewayContext, account_id: str, offset_steps: int = 0) -> str:
    secret = totp_secret(ctx, account_id)
    assert isinstance(ctx.clock, FixedClock)
    return str(pyotp.TOTP(secret).at(ctx.clock.now() + timedelta(seconds=30 * offset_steps)))


def account_generation(ctx: GatewayContext, account_id: str) -> int:
    """The account's generation now (raised by each recovery and revocation)."""
    with ctx.sessions() as session:
        generation = session.scalar(select(StaffAccount.generation).where(StaffAccount.id == account_id))
    return int(generation or 0)


def exchange_form(registry: Any, agency_id: str, person_token: str, clock: FixedClock,
                  token_url: str = f"{ISSUER}/oauth/token", scope: str | None = None) -> dict[str, str]:
    form = token_request_form(agency_id, registry.keys[agency_id].signing_seed, token_url, scope=scope,
                              now=clock.now().timestamp())
    form.update(grant_type=TOKEN_EXCHANGE, subject_token=person_token, subject_token_type=JWT_TYPE)
    return form


ActFor = Callable[..., dict[str, str]]


@pytest.fixture
def act_for(client: TestClient, registry: Any, ctx: GatewayContext, clock: FixedClock) -> ActFor:
    """Headers for the agency's client acting for a signed-in staff member: the person token the
    gateway gives them at sign-in, exchanged by the agency's client at the token endpoint."""

    def headers(member: StaffMember, scope: str | None = None) -> dict[str, str]:
        token, _ttl = ctx.tokens.issue_person_token(member.account_id, member.agency_id, ctx.clock.now(),
                                                    account_generation(ctx, member.account_id))
        response = client.post("/oauth/token", data=exchange_form(registry, member.agency_id, token, clock,
                                                                  scope=scope))
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


def sdk_staff(ctx: GatewayContext, client: Any, *roles: str) -> Any:
    """The SDK's ``client.acting_for(person token)`` for a new staff member of the client's agency
    (``roles``, a caseworker by default): what the agency's system holds after its caseworker signed in
    at /staff. Person-bound SDK calls (subjects, consents, plans, approvals) go through it."""
    member = new_staff(ctx, client.agency_id, *(roles or DEFAULT_ROLES), password=None)
    token, _ttl = ctx.tokens.issue_person_token(member.account_id, member.agency_id, ctx.clock.now(),
                                                account_generation(ctx, member.account_id))
    return client.acting_for(token)


def open_enrolments(ctx: GatewayContext, account_id: str) -> int:
    with ctx.sessions() as session:
        return len(session.scalars(select(StaffEnrolment).where(StaffEnrolment.account_id == account_id,
                                                                StaffEnrolment.used_at.is_(None))).all())


class People:
    """Named staff members per agency, created on first use; ``headers`` acts for one of them."""

    def __init__(self, ctx: GatewayContext, act_for: ActFor) -> None:
        self.ctx = ctx
        self.act_for = act_for
        self.members: dict[tuple[str, str], StaffMember] = {}

    def get(self, agency_id: str, name: str, *roles: str) -> StaffMember:
        key = (agency_id, name)
        if key not in self.members:
            self.members[key] = new_staff(self.ctx, agency_id, *(roles or ("caseworker",)), password=None)
        return self.members[key]

    def headers(self, agency_id: str, name: str, *roles: str, scope: str | None = None) -> dict[str, str]:
        return self.act_for(self.get(agency_id, name, *roles), scope)

    def id(self, agency_id: str, name: str) -> str:
        return self.members[(agency_id, name)].account_id

    def default_headers(self, agency_id: str, scope: str | None = None) -> dict[str, str]:
        """Acting for the agency's default signed-in staff member (``DEFAULT_PERSON``, a caseworker)."""
        return self.headers(agency_id, DEFAULT_PERSON, *DEFAULT_ROLES, scope=scope)

    def default_id(self, agency_id: str) -> str:
        """The account id of the agency's default staff member (the one consent records now name)."""
        return self.get(agency_id, DEFAULT_PERSON, *DEFAULT_ROLES).account_id


@pytest.fixture
def people(ctx: GatewayContext, act_for: ActFor) -> People:
    return People(ctx, act_for)
