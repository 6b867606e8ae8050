"""A wrong code, a code nobody holds, a wrong PIN, the PIN and the duress PIN all cost the same
work (ASVS 6.3.8). The work is counted, not timed, so the test holds on a busy machine: every
outcome verifies the same number of Argon2id hashes of the same cost, so a shortcut for any of
them (skipping the hash for an unknown code, say) shows as a different count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from consent.clock import FixedClock
from gateway.context import GatewayContext
from tests.portal.conftest import PortalPerson, csrf_of, sign_in
from tests.support.work_counter import Work, WorkCounter


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch, ctx: GatewayContext) -> Iterator[WorkCounter]:
    work = WorkCounter(monkeypatch, ctx.engine)
    yield work
    work.close()


def _attempt(client: TestClient, clock: FixedClock, counter: WorkCounter, code: str, pin: str, expect: int) -> Work:
    clock.advance(timedelta(seconds=901))  # past any back-off: count the check, not the throttle
    client.cookies.clear()
    form = client.get("/p/")
    with counter.measure() as work:
        response = client.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": code, "pin": pin},
                               follow_redirects=False)
    assert response.status_code == expect
    return work


@pytest.mark.rule("ASVS-6.3.8")
def test_every_sign_in_outcome_verifies_the_same_hashes(client: TestClient, person: PortalPerson,
                                                         clock: FixedClock, counter: WorkCounter) -> None:
    assert person.duress_pin
    unknown = ("2222" if not person.code.startswith("2222") else "3333") + person.code[4:]
    wrong_secret = person.code[:-1] + ("2" if person.code[-1] != "2" else "3")
    wrong_pin = "9" * len(person.pin) if person.pin != "9" * len(person.pin) else "8" * len(person.pin)
    outcomes = {
        "unknown code": _attempt(client, clock, counter, unknown, person.pin, 401),
        "wrong code": _attempt(client, clock, counter, wrong_secret, person.pin, 401),
        "right pin": _attempt(client, clock, counter, person.code, person.pin, 303),
        "wrong pin": _attempt(client, clock, counter, person.code, wrong_pin, 401),
        "duress pin": _attempt(client, clock, counter, person.code, person.duress_pin, 303),
        "malformed": _attempt(client, clock, counter, "hello", person.pin, 401),
    }
    hashes = {name: tuple(work.verifications) for name, work in outcomes.items()}
    assert all(hashes.values()), f"an outcome verified no hash at all: {hashes}"
    assert len(set(hashes.values())) == 1, hashes
    clock.advance(timedelta(seconds=901))
    assert sign_in(client, person.code, person.pin).status_code == 303
