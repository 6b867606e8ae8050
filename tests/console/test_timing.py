"""Sign-in answers unknown users with the same work as known ones (ASVS 6.3.8), counted, not timed:
an unknown username, a wrong password and a wrong one-time code each verify the same Argon2id hashes
of the same cost and issue the same number of reads, and the right credentials verify exactly the
same hashes, so a shortcut for unknown accounts or wrong secrets shows as a different count on any
machine, however busy. (Only a sign-in that succeeds goes on to start a session: more work, after the
answer is decided, and only for someone who already holds every credential.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.context import GatewayContext
from tests.console.conftest import StaffLogin, sign_in
from tests.support.work_counter import Work, WorkCounter


@pytest.fixture
def counter(ctx: GatewayContext) -> Iterator[WorkCounter]:
    work = WorkCounter(ctx)
    yield work
    work.close()


def _attempt(client: TestClient, dpo: StaffLogin, counter: WorkCounter, status: int = 401, **change: str) -> Work:
    dpo.clock.advance(timedelta(seconds=901))  # past any back-off: count the check, not the throttle
    client.cookies.clear()
    with counter.measure() as work:
        response = sign_in(client, dpo, **change)
    assert response.status_code == status
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
    right = _attempt(client, dpo, counter, status=303)
    signatures = {name: work.signature() for name, work in outcomes.items()}
    assert len(set(signatures.values())) == 1, signatures
    # One Argon2id verification at the configured cost, whoever asks and whatever they typed.
    cost = counter.hasher.work_cost()
    for name, work in [*outcomes.items(), ("right", right)]:
        assert work.verifications == [cost], (name, work)
        assert work.hashes == [], (name, work)
    # The reads before the answer are the same: a success reads no less than a failure.
    assert right.selects >= outcomes["unknown user"].selects > 0
