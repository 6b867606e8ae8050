"""Console fixtures: staff accounts with real argon2id hashes and TOTP secrets, and a signed-in client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx import Response

from consent.clock import FixedClock
from crypto.passwords import SecretHasher
from gateway.accounts import StaffAccount
from gateway.context import GatewayContext

COOKIE = "__Host-gw-console"


@dataclass
class StaffLogin:
    username: str
    password: str
    secret: str
    clock: FixedClock

    def code(self, offset_steps: int = 0) -> str:
        return str(pyotp.TOTP(self.secret).at(self.clock.now() + timedelta(seconds=30 * offset_steps)))


def make_staff(ctx: GatewayContext, username: str, role: str, password: str = "correct horse battery staple") -> \
        StaffLogin:
    secret = pyotp.random_base32()
    hasher = SecretHasher(time_cost=ctx.settings.argon2_time_cost, memory_cost=ctx.settings.argon2_memory_kib)
    with ctx.sessions() as session, session.begin():
        session.add(StaffAccount(id=f"staff_{username}", username=username, role=role, agency_id=None,
                                 password_hash=hasher.hash(password), totp_secret=secret, created_at=ctx.clock.now()))
    assert isinstance(ctx.clock, FixedClock)
    return StaffLogin(username, password, secret, ctx.clock)


@pytest.fixture
def dpo(ctx: GatewayContext) -> StaffLogin:
    return make_staff(ctx, "dpo", "dpo")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, who: StaffLogin, *, password: str | None = None, code: str | None = None,
            username: str | None = None) -> Response:
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post("/console/login", data={
        "csrf_token": csrf_of(form.text), "username": username or who.username,
        "password": who.password if password is None else password,
        "code": who.code() if code is None else code,
    }, follow_redirects=False)


@pytest.fixture
def console(client: TestClient, dpo: StaffLogin) -> TestClient:
    """A client signed in as the DPO."""
    response = sign_in(client, dpo)
    assert response.status_code == 303, response.text
    return client
