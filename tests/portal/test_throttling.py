"""Issue 17, attacks 1 and 2 and the CPU part of 7: the sign-in cannot be turned against the person.

- Wrong PINs, junk codes and a known locator with a wrong secret, from one address shared by
  everyone (Caddy in front, as in docker-compose.yml), do not keep anyone else out.
- ``X-Forwarded-For`` is believed only from a configured proxy; by default from nobody.
- Whoever holds the card can only slow guessing down: nothing locks, waiting always helps, and
  the advocate's agency is told the code is being guessed (NIST SP 800-63B rev 4 §3.2.2).
- The locator alone counts for nothing; PINs are six digits (old shorter ones still open).
- Argon2id work per client is bounded: past the budget a client waits and costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from consent.portal_access import PortalAccess
from crypto.passwords import SecretHasher
from gateway.context import GatewayContext
from gateway.portal.models import PortalAlert
from gateway.settings import Settings
from tests.conftest import ISSUER
from tests.console.conftest import make_staff
from tests.console.conftest import sign_in as console_sign_in
from tests.portal.conftest import OWNER, Auth, PortalPerson, csrf_of, make_person, sign_in
from tests.support.caddy_proxy import caddy_in_front
from tests.support.live_server import serve
from tests.support.work_counter import WorkCounter

BURST = 12


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER, argon2_time_cost=1,
                    argon2_memory_kib=8, background_worker=False, trusted_proxies=["127.0.0.1"],
                    sign_in_work_burst=BURST, sign_in_work_refill_s=10)


def _wrong_secret(code: str) -> str:
    return code[:-1] + ("2" if code[-1] != "2" else "3")


def _unknown(i: int) -> str:
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return f"{alphabet[i % 31]}{alphabet[(i // 31) % 31]}ZZ-2222-3333-4444"


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url=ISSUER, raise_server_exceptions=False, client=(address, 40000))


def _past_backoff(clock: FixedClock, ctx: GatewayContext) -> None:
    clock.advance(timedelta(seconds=ctx.settings.portal_max_delay_s + 1))


# ---------------------------------------------------------------------------- behind a real proxy


class Browser:
    """A plain HTTP client bound to one loopback address (its own 'machine'), talking to Caddy."""

    def __init__(self, base: str, address: str) -> None:
        self.http = httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address),
                                 follow_redirects=False, timeout=30)
        self.base = base

    def sign_in(self, code: str, pin: str, headers: dict[str, str] | None = None) -> httpx.Response:
        self.http.cookies.clear()
        form = self.http.get("/p/", headers=headers)
        assert form.status_code == 200, form.text
        # __Host- cookies are Secure: carry the pre-sign-in session by hand over plain HTTP on loopback.
        cookie = form.headers["set-cookie"].split(";", 1)[0]
        return self.http.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": code, "pin": pin},
                              headers={"cookie": cookie, **(headers or {})})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def proxied(app: FastAPI, tmp_path: Path) -> Iterator[Callable[[str], Browser]]:
    """The gateway under uvicorn as ``gateway serve`` runs it (uvicorn's own forwarded-header
    handling off), Caddy in front; browsers on distinct loopback addresses."""
    opened: list[Browser] = []
    with serve(app, lifespan="on", proxy_headers=False) as upstream, \
            caddy_in_front(upstream, tmp_path / "caddy") as front:
        def browser(address: str) -> Browser:
            opened.append(Browser(front, address))
            return opened[-1]
        yield browser
        for b in opened:
            b.close()


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_behind_caddy_one_visitors_junk_does_not_close_the_portal_for_others(
    proxied: Callable[[str], Browser], client: TestClient, auth: Auth, registry: Any, ctx: GatewayContext
) -> None:
    person = make_person(client, auth)
    other = make_person(client, auth)
    attacker, visitor = proxied("127.0.0.2"), proxied("127.0.0.3")
    statuses = [attacker.sign_in(other.code, "999999").status_code]  # another person's card, wrong PIN
    statuses += [attacker.sign_in(_wrong_secret(person.code), person.pin).status_code for _ in range(3)]
    statuses += [attacker.sign_in(_unknown(i), "135792").status_code for i in range(BURST)]
    # 3 + 1 + 1 + 1 verifications, then 1 each while room for 3 is left: 8 answers, then waits.
    assert statuses[:8] == [401] * 8
    assert set(statuses[8:]) == {429}, "the attacker's own hash budget ran out"
    # Forging the visitor's address through Caddy does not spend the visitor's budget either.
    forged = attacker.sign_in(_unknown(99), "135792", headers={"X-Forwarded-For": "127.0.0.3"})
    assert forged.status_code == 429
    ok = visitor.sign_in(person.code, person.pin)
    assert ok.status_code == 303, ok.text
    with ctx.sessions() as session:
        row = session.get(PortalAccess, person.subject_id)
        assert row is not None and row.failed_attempts == 0, "a wrong secret never counts against the code"


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_forwarded_for_is_believed_only_from_a_configured_proxy(app: FastAPI, client: TestClient, auth: Auth,
                                                                 registry: Any) -> None:
    person = make_person(client, auth)
    direct = _from(app, "198.51.100.7")  # not a proxy: its header is ignored, its own budget is spent
    for i in range(BURST):
        direct.cookies.clear()
        form = direct.get("/p/")
        direct.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": _unknown(i), "pin": "135792"},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"}, follow_redirects=False)
    direct.cookies.clear()
    assert sign_in(direct, person.code, person.pin).status_code == 429
    # Through the trusted proxy, the client it names is a client of its own.
    proxy = _from(app, "127.0.0.1")
    proxy.headers["X-Forwarded-For"] = "192.0.2.44"
    assert sign_in(proxy, person.code, person.pin).status_code == 303


def test_the_default_trusts_no_proxy(db_url: str, tmp_path: Path) -> None:
    assert Settings(env="test", database_url=db_url, data_dir=tmp_path).trusted_proxies == []
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        Settings(env="test", database_url=db_url, data_dir=tmp_path, trusted_proxies=["caddy"])


def test_compose_file_names_caddys_address_as_the_trusted_proxy() -> None:
    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    caddy_ip = compose["services"]["tls"]["networks"]["backend"]["ipv4_address"]
    trusted = compose["x-gateway"]["environment"]["GATEWAY_TRUSTED_PROXIES"]
    assert trusted == f'["{caddy_ip}"]'


# ---------------------------------------------------------------------------- the card-holder


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_the_public_locator_alone_slows_nobody_down(client: TestClient, person: PortalPerson,
                                                     ctx: GatewayContext, clock: FixedClock) -> None:
    for i in range(ctx.settings.portal_alert_after * 3):
        clock.advance(timedelta(seconds=ctx.settings.sign_in_work_refill_s))  # keep within the hash budget
        assert sign_in(client, _wrong_secret(person.code) if i % 2 else person.code[:5] + "ZZZZ-ZZZZ-ZZZZ",
                       "999999").status_code == 401
    assert sign_in(client, person.code, person.pin).status_code == 303
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PortalAlert)) == 0


def _guess_until(client: TestClient, person: PortalPerson, clock: FixedClock, *, failures: int,
                 hour: bool = False) -> int:
    """Wrong PINs with the card, as fast as the gateway lets them through (waiting out every back-off
    exactly); stops after ``failures`` 401s or, with ``hour``, after an hour. Returns the 401s."""
    tried, start = 0, clock.now()
    while tried < failures and (not hour or clock.now() - start < timedelta(hours=1)):
        response = sign_in(client, person.code, "999999")
        if response.status_code == 401:
            tried += 1
        else:
            assert response.status_code == 429
            clock.advance(timedelta(seconds=int(response.headers["retry-after"])))
    return tried


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_guessing_pins_with_the_card_never_locks_and_tells_the_advocate(
    client: TestClient, auth: Auth, person: PortalPerson, ctx: GatewayContext, clock: FixedClock
) -> None:
    _guess_until(client, person, clock, failures=ctx.settings.portal_alert_after + 3)
    throttled = sign_in(client, person.code, person.pin)
    assert throttled.status_code == 429 and "Please wait" in throttled.text
    assert "Your advocate can help" not in throttled.text
    _past_backoff(clock, ctx)  # waiting is enough: no lock, no advocate needed
    assert sign_in(client, person.code, person.pin).status_code == 303
    status = client.get(f"/v1/subjects/{person.subject_id}/portal-access", headers=auth(OWNER)).json()
    assert status["locked"] is False and status["failed_attempts"] == 0
    notices = client.get("/v1/exceptions/notices", headers=auth(OWNER)).json()
    guessed = [n for n in notices if n["kind"] == "portal_code_being_guessed"]
    assert len(guessed) == 1 and guessed[0]["subject_id"] == person.subject_id
    alerts = client.get("/v1/alerts", headers=auth(OWNER)).json()["alerts"]
    assert [a["code"] for a in alerts] == ["portal_code_being_guessed"]
    assert client.get("/v1/exceptions/notices", headers=auth("shelter")).json() == []


def test_guessing_is_bounded_per_hour(client: TestClient, person: PortalPerson, ctx: GatewayContext,
                                      clock: FixedClock) -> None:
    """Free failures, then waits of 1, 2, 4 ... s: about a dozen more guesses in the first hour, and
    from then on one per ``portal_max_delay_s`` (24 a day by default)."""
    tried = _guess_until(client, person, clock, failures=1000, hour=True)
    assert ctx.settings.portal_code_free_failures + 8 <= tried <= ctx.settings.portal_code_free_failures + 13


def test_the_decay_forgives_an_honest_mistake(client: TestClient, person: PortalPerson, ctx: GatewayContext,
                                              clock: FixedClock) -> None:
    free = ctx.settings.portal_code_free_failures
    _guess_until(client, person, clock, failures=free + 1)
    assert sign_in(client, person.code, person.pin).status_code == 429
    clock.advance(timedelta(seconds=ctx.settings.portal_code_decay_s * 3))  # three failures forgiven
    _guess_until(client, person, clock, failures=2)
    assert sign_in(client, person.code, person.pin).status_code == 303, "free - 2 + 2 failures: no wait"


# ---------------------------------------------------------------------------- PINs


def test_pins_are_six_digits_and_an_old_four_digit_pin_still_opens(client: TestClient, auth: Auth,
                                                                   person: PortalPerson, ctx: GatewayContext) -> None:
    short = client.post(f"/v1/subjects/{person.subject_id}/portal-access/pin",
                        headers=auth(OWNER, person="advocate"), json={"pin": "4829"})
    assert short.status_code == 422
    hasher = SecretHasher(time_cost=ctx.settings.argon2_time_cost, memory_cost=ctx.settings.argon2_memory_kib)
    with ctx.sessions() as session, session.begin():  # a PIN set before the rule
        row = session.get(PortalAccess, person.subject_id)
        assert row is not None
        row.pin_hash, row.pin_length = hasher.hash("4829"), None
    assert sign_in(client, person.code, "4829").status_code == 303
    status = client.get(f"/v1/subjects/{person.subject_id}/portal-access", headers=auth(OWNER)).json()
    assert status["pin_needs_change"] is True
    fresh = make_person(client, auth)
    status = client.get(f"/v1/subjects/{fresh.subject_id}/portal-access", headers=auth(OWNER)).json()
    assert status["pin_needs_change"] is False


# ---------------------------------------------------------------------------- hash work


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_hash_work_per_client_is_bounded(app: FastAPI, person: PortalPerson, ctx: GatewayContext,
                                         clock: FixedClock) -> None:
    counter = WorkCounter(ctx)
    attacker = _from(app, "198.51.100.9")
    with counter.measure() as junk:
        answers = [sign_in(attacker, _unknown(i), "135792").status_code for i in range(BURST * 3)]
    # One verification each while room for a whole attempt (3) is left, then none at all.
    assert answers[:BURST - 2] == [401] * (BURST - 2) and set(answers[BURST - 2:]) == {429}
    assert len(junk.verifications) == BURST - 2, "one verification per junk attempt, none once the budget is spent"
    # A wrong PIN with the right code costs three; the budget counts them all.
    clock.advance(timedelta(seconds=ctx.settings.sign_in_work_refill_s * BURST))
    guesser = _from(app, "198.51.100.10")
    with counter.measure() as guesses:
        answers = [sign_in(guesser, person.code, "999999").status_code for _ in range(BURST)]
    counter.close()
    assert len(guesses.verifications) <= BURST
    # Another client is unaffected.
    assert sign_in(_from(app, "198.51.100.11"), person.code, person.pin).status_code == 303


@pytest.mark.rule("NIST-800-63B-5.2.2")
def test_the_console_has_no_per_address_lock_either(app: FastAPI, ctx: GatewayContext, clock: FixedClock) -> None:
    dpo = make_staff(ctx, "dpo-17", "dpo")
    monitor = make_staff(ctx, "monitor-17", "monitoring_body")
    office = _from(app, "198.51.100.20")
    for _ in range(8):  # someone in the office guesses the DPO's password
        clock.advance(timedelta(seconds=ctx.settings.sign_in_work_refill_s))
        assert console_sign_in(office, dpo, password="wrong").status_code in (401, 429)
    assert console_sign_in(office, monitor).status_code == 303  # a colleague at the same address
    blocked = console_sign_in(_from(app, "198.51.100.21"), dpo)
    assert blocked.status_code == 429, "the DPO's account is slowed down, wherever the guesses come from"
    clock.advance(timedelta(seconds=901))
    assert console_sign_in(_from(app, "198.51.100.21"), dpo).status_code == 303
