"""The work each sign-in outcome costs (ASVS 6.3.8), counted in Argon2id verifications (not timed):

- a code that does not open (nobody holds it, a wrong secret, not a code at all): one, against the
  row's hash or a dummy, so an unknown code and a wrong secret cost the same;
- the code's correct secret: three whatever the PIN (the secret, the PIN, the duress PIN), so the
  PIN, a wrong PIN and the duress PIN cost the same and nothing tells whether a duress PIN is set.

Only someone who already typed the code's correct secret can see the second group's extra work.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from consent.clock import FixedClock
from tests.portal.conftest import PortalPerson, sign_in
from tests.portal.test_throttling import CountingHasher


@pytest.mark.rule("ASVS-6.3.8")
def test_every_sign_in_outcome_costs_the_work_of_its_group(client: TestClient, person: PortalPerson,
                                                           clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    assert person.duress_pin
    spy = CountingHasher(monkeypatch)
    unknown = ("2222" if not person.code.startswith("2222") else "3333") + person.code[4:]
    wrong_secret = person.code[:-1] + ("2" if person.code[-1] != "2" else "3")
    work = {}
    for name, code, pin, expect in (
        ("unknown code", unknown, person.pin, 401), ("wrong code", wrong_secret, person.pin, 401),
        ("malformed", "hello", person.pin, 401), ("right pin", person.code, person.pin, 303),
        ("wrong pin", person.code, "999999", 401), ("duress pin", person.code, person.duress_pin, 303),
    ):
        clock.advance(timedelta(seconds=3601))  # past any back-off: count the check, not the throttle
        spy.count = 0
        assert sign_in(client, code, pin).status_code == expect
        work[name] = spy.count
    assert work == {"unknown code": 1, "wrong code": 1, "malformed": 1,
                    "right pin": 3, "wrong pin": 3, "duress pin": 3}
