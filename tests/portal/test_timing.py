"""A wrong code, a code nobody holds, a wrong PIN, the PIN and the duress PIN all cost the same
work (ASVS 6.3.8), measured with a realistic Argon2id cost: a shortcut for any of them would
show as a several-fold difference. The other portal tests use a near-free Argon2id."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consent.clock import FixedClock
from gateway.settings import Settings
from tests.conftest import ISSUER
from tests.portal.conftest import PortalPerson, csrf_of, sign_in


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER, argon2_time_cost=2,
                    argon2_memory_kib=16_384, background_worker=False)


def _median(client: TestClient, clock: FixedClock, code: str, pin: str, expect: int) -> float:
    samples = []
    for _ in range(7):
        clock.advance(timedelta(seconds=901))  # past any back-off: measure the check, not the throttle
        client.cookies.clear()
        form = client.get("/p/")
        started = time.perf_counter()
        response = client.post("/p/sign-in", data={"csrf_token": csrf_of(form.text), "code": code, "pin": pin},
                               follow_redirects=False)
        samples.append(time.perf_counter() - started)
        assert response.status_code == expect
    return statistics.median(samples)


@pytest.mark.rule("ASVS-6.3.8")
def test_every_sign_in_outcome_takes_similar_time(client: TestClient, person: PortalPerson,
                                                  clock: FixedClock) -> None:
    assert person.duress_pin
    unknown = ("2222" if not person.code.startswith("2222") else "3333") + person.code[4:]
    other_unknown = ("4444" if not person.code.startswith("4444") else "5555") + person.code[4:]
    wrong_secret = person.code[:-1] + ("2" if person.code[-1] != "2" else "3")
    for _ in range(3):  # warm up (first requests pay for imports, caches, the first Argon2id allocation)
        assert sign_in(client, person.code, person.pin).status_code == 303
    # Ordered so that a success clears the code's failures before they reach the lockout.
    timings = {
        "unknown code": _median(client, clock, unknown, person.pin, 401),
        "wrong code": _median(client, clock, wrong_secret, person.pin, 401),
        "right pin": _median(client, clock, person.code, person.pin, 303),
        "wrong pin": _median(client, clock, person.code, "9999", 401),
        "duress pin": _median(client, clock, person.code, person.duress_pin, 303),
        "malformed": _median(client, clock, "hello", person.pin, 401),
        "another unknown code": _median(client, clock, other_unknown, person.pin, 401),
    }
    assert max(timings.values()) / min(timings.values()) < 2, timings
    clock.advance(timedelta(seconds=901))
    assert sign_in(client, person.code, person.pin).status_code == 303
