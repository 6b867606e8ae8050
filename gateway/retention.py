"""Purges for the tables that only grow: spent client assertions, idempotency keys, sign-in
throttles and spent one-time codes. Each row is deleted once it can no longer change an answer:

- a client assertion after its expiry (a replay of it is refused for being expired anyway);
- an idempotency key after ``idempotency_retention_s`` (its ``expires_at``);
- a throttle row idle for a week and not blocking (every count in use has leaked to zero by then);
- a spent TOTP step after a day (only the steps around now are ever accepted).

Run by the scheduled jobs (:mod:`gateway.scheduler`) on every replica; deletes are idempotent.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from .auth.models import UsedAssertion
from .context import GatewayContext
from .exchange.models import IdempotencyRecord
from .web.models import UsedOneTimeCode
from .web.throttle import Throttle

__all__ = ["THROTTLE_IDLE_S", "purge_growing_tables"]

THROTTLE_IDLE_S = 7 * 86_400


def purge_growing_tables(ctx: GatewayContext) -> dict[str, int]:
    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        def count(result: object) -> int:
            return int(getattr(result, "rowcount", 0) or 0)

        return {
            "used_assertions": count(session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))),
            "idempotency_keys": count(session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now))),
            "login_throttles": Throttle.purge(session, now, older_than_s=THROTTLE_IDLE_S),
            "used_one_time_codes": count(session.execute(
                delete(UsedOneTimeCode).where(UsedOneTimeCode.used_at < now - timedelta(days=1)))),
        }
