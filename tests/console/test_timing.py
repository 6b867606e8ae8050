"""Sign-in answers unknown users as slowly as known ones (ASVS 6.3.8), with a realistic argon2id cost.

The other console tests use a near-free argon2id so they run fast; with that, skipping the
hash for an unknown user would go unnoticed. Here each verification costs tens of
milliseconds, so a shortcut for unknown accounts would show as a several-fold difference.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.settings import Settings
from tests.conftest import ISSUER
from tests.console.conftest import StaffLogin, sign_in


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER,
                    argon2_time_cost=2, argon2_memory_kib=16_384)


def _median(client: TestClient, dpo: StaffLogin, **change: str) -> float:
    samples = []
    for _ in range(7):
        dpo.clock.advance(timedelta(seconds=901))  # past any back-off: measure the check, not the throttle
        started = time.perf_counter()
        response = sign_in(client, dpo, **change)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 401
        client.cookies.clear()
    return statistics.median(samples)


@pytest.mark.rule("ASVS-6.3.8")
def test_unknown_user_wrong_password_and_wrong_code_take_similar_time(client: TestClient, dpo: StaffLogin) -> None:
    wrong_code = "000000" if dpo.code() != "000000" else "111111"
    unknown = _median(client, dpo, username="nobody-at-all")
    wrong_password = _median(client, dpo, password="wrong horse battery staple")
    wrong = _median(client, dpo, code=wrong_code)
    fastest, slowest = min(unknown, wrong_password, wrong), max(unknown, wrong_password, wrong)
    assert slowest / fastest < 2, (unknown, wrong_password, wrong)
