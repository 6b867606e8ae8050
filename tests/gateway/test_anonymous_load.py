"""Issue 17, attack 7: unauthenticated requests neither write at will nor grow tables for ever.

- 300 refused token requests write nothing while they come; the scheduled round writes one
  aggregated audit entry per reason, with the count.
- Spent client assertions, idempotency keys, throttles and one-time codes are purged once they
  can no longer change an answer.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connectors.assertion import token_request_form
from consent.clock import FixedClock
from gateway.audit.models import AuditEntry
from gateway.auth.models import UsedAssertion
from gateway.context import GatewayContext
from gateway.exchange.models import IdempotencyRecord
from gateway.retention import THROTTLE_IDLE_S, purge_growing_tables
from gateway.scheduler import ScheduledJobs
from gateway.web.models import LoginThrottle, UsedOneTimeCode
from tests.conftest import ISSUER, Registry


def _entries(ctx: GatewayContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_a_flood_of_refused_token_requests_is_audited_in_aggregate(client: TestClient, ctx: GatewayContext,
                                                                   registry: Registry, clock: FixedClock) -> None:
    before = _entries(ctx)
    for i in range(300):
        response = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                                     "client_assertion_type": "junk", "client_assertion": f"x{i}"})
        assert response.status_code in (400, 401)
    assert _entries(ctx) == before, "a refused token request wrote to the audit log"
    ScheduledJobs(ctx).run_once()
    with ctx.sessions() as session:
        refusals = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "auth:token:refuse")))
    assert sum(e.details["count"] for e in refusals) == 300
    assert len(refusals) <= 3, "one entry per reason, not one per request"
    ScheduledJobs(ctx).run_once()
    with ctx.sessions() as session:
        again = session.scalar(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == "auth:token:refuse"))
    assert again == len(refusals), "nothing new, nothing written"


def test_tables_that_only_grew_are_purged(client: TestClient, ctx: GatewayContext, registry: Registry,
                                          clock: FixedClock) -> None:
    form = token_request_form("ngo", registry.keys["ngo"].signing_seed, f"{ISSUER}/oauth/token",
                              now=clock.now().timestamp())
    assert client.post("/oauth/token", data=form).status_code == 200
    now = clock.now()
    with ctx.sessions() as session, session.begin():
        session.add(IdempotencyRecord(agency_id="ngo", key="k", request_hash="h", status_code=201, response={},
                                      created_at=now, expires_at=now + timedelta(days=2)))
        session.add(LoginThrottle(key="a" * 64, failures=3, last_failure_at=now, blocked_until=None))
        session.add(UsedOneTimeCode(principal_id="staff_x", step=1, used_at=now))
    assert purge_growing_tables(ctx) == {"used_assertions": 0, "idempotency_keys": 0, "login_throttles": 0,
                                         "used_one_time_codes": 0}, "nothing is purged while it still counts"
    clock.advance(timedelta(seconds=THROTTLE_IDLE_S + 1))
    assert purge_growing_tables(ctx) == {"used_assertions": 1, "idempotency_keys": 1, "login_throttles": 1,
                                         "used_one_time_codes": 1}
    with ctx.sessions() as session:
        for table in (UsedAssertion, IdempotencyRecord, LoginThrottle, UsedOneTimeCode):
            assert session.scalar(select(func.count()).select_from(table)) == 0
