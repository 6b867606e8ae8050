"""Sign-in answers unknown users with the same work as known ones (ASVS 6.3.8), counted, not timed:
an unknown username, a wrong password and a wrong one-time code each verify the same number of
Argon2id hashes of the same cost and issue the same number of reads, so a shortcut for unknown
accounts shows as a different count on any machine, however busy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.context import GatewayContext
from tests.console.conftest import StaffLogin, sign_in
from tests.support.work_counter import Work, WorkCounter


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch, ctx: GatewayContext) -> Iterator[WorkCounter]:
    work = WorkCounter(monkeypatch, ctx.engine)
    yield work
    work.close()


def _attempt(client: TestClient, dpo: StaffLogin, counter: WorkCounter, **change: str) -> Work:
    dpo.clock.advance(timedelta(seconds=901))  # past any back-off: count the check, not the throttle
    client.cookies.clear()
    with counter.measure() as work:
        response = sign_in(client, dpo, **change)
    assert response.status_code == 401
    return work


@pytest.mark.rule("ASVS-6.3.8")
def test_unknown_user_wrong_password_and_wrong_code_do_the_same_work(client: TestClient, dpo: StaffLogin,
                                                                     counter: WorkCounter) -> None:
    wrong_code = "000000" if dpo.code() != "000000" else "111111"
    outcomes = {
        "unknown user": _attempt(client, dpo, counter, username="nobody-at-all"),
        "wrong password": _attempt(client, dpo, counter, password="wrong horse battery staple"),
        "wrong code": _attempt(client, dpo, counter, code=wrong_code),
    }
    signatures = {name: work.signature() for name, work in outcomes.items()}
    assert all(work.verifications for work in outcomes.values()), signatures
    assert len(set(signatures.values())) == 1, signatures
