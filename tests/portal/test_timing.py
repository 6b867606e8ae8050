"""The work each sign-in outcome costs (ASVS 6.3.8), counted in Argon2id verifications and reads (not timed):

- a code that does not open (nobody holds it, a wrong secret, not a code at all): one verification,
  against the row's hash or a dummy of the same cost, and the same reads, so an unknown code and a
  wrong secret cost the same;
- the code's correct secret: three verifications whatever the PIN (the secret, the PIN, the duress
  PIN), so the PIN, a wrong PIN and the duress PIN cost the same and nothing tells whether a duress
  PIN is set; the duress PIN does what the right PIN does, read for read.

Only someone who already typed the code's correct secret can see the second group's extra work.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from consent.clock import FixedClock
from gateway.context import GatewayContext
from tests.portal.conftest import PortalPerson, sign_in
from tests.support.work_counter import Work, WorkCounter


@pytest.fixture
def counter(ctx: GatewayContext) -> Iterator[WorkCounter]:
    work = WorkCounter(ctx)
    yield work
    work.close()


@pytest.mark.rule("ASVS-6.3.8")
def test_every_sign_in_outcome_costs_the_work_of_its_group(client: TestClient, person: PortalPerson,
                                                           clock: FixedClock, counter: WorkCounter) -> None:
    assert person.duress_pin
    unknown = ("2222" if not person.code.startswith("2222") else "3333") + person.code[4:]
    wrong_secret = person.code[:-1] + ("2" if person.code[-1] != "2" else "3")
    work: dict[str, Work] = {}
    for name, code, pin, expect in (
        ("unknown code", unknown, person.pin, 401), ("wrong code", wrong_secret, person.pin, 401),
        ("malformed", "hello", person.pin, 401), ("right pin", person.code, person.pin, 303),
        ("wrong pin", person.code, "999999", 401), ("duress pin", person.code, person.duress_pin, 303),
    ):
        clock.advance(timedelta(seconds=3601))  # past any back-off: count the check, not the throttle
        with counter.measure() as work[name]:
            assert sign_in(client, code, pin).status_code == expect
    cost = counter.hasher.work_cost()
    assert {name: w.verifications for name, w in work.items()} == {
        "unknown code": [cost], "wrong code": [cost], "malformed": [cost],
        "right pin": [cost] * 3, "wrong pin": [cost] * 3, "duress pin": [cost] * 3}
    assert all(not w.hashes for w in work.values())
    # The same reads of the codes and of the throttle, and one audit entry, for an unknown code and a
    # wrong secret ("hello" is not a code by its shape: it is refused before the code is looked up).
    assert work["unknown code"].signature() == work["wrong code"].signature()
    assert work["unknown code"].reads["portal_access"] == 1 and work["malformed"].reads["portal_access"] == 0
    # Past the code's secret, a wrong PIN, the PIN and the duress PIN read the same rows.
    checks = ("portal_access", "login_throttles")
    assert len({tuple(w.reads[t] for t in checks) for n, w in work.items() if n.endswith("pin")}) == 1
