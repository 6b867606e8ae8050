"""A client's budget of expensive sign-in work (Argon2id verifications at 64 MiB each).

Every sign-in attempt, on the portal or the console, spends units of its client address's
budget before any hash runs: ``sign_in_work_burst`` at once, one unit back every
``sign_in_work_refill_s`` seconds. A client that spent it all waits for the refill and costs
nothing meanwhile. It is a rate, not a failure count: a success spends as much as a failure,
nothing accumulates beyond the burst, and the address is the client's own (see
:mod:`gateway.web.client_address`), so a proxy in front of the gateway is not one client.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..settings import Settings
from .throttle import Throttle, ThrottleKey

__all__ = ["WORK_REALM", "spend", "work_budget_key"]

WORK_REALM = "sign-in-work"


def work_budget_key(settings: Settings, address: str) -> ThrottleKey:
    return ThrottleKey("work", address, free=settings.sign_in_work_burst, decay_s=settings.sign_in_work_refill_s,
                       backoff="refill")


def spend(throttle: Throttle, session: Session, key: ThrottleKey, units: int, *, room: int | None = None) -> int:
    """Spend ``units`` of the budget before the work runs, if ``room`` units (default: ``units``) are
    left: 0 when spent, else about the seconds until they are (nothing spent, no work done). An attempt
    that may cost more later asks for room for all of it at once, so it never stops half-way."""
    need = max(units, room or units)
    wait = throttle.retry_after(session, [key])
    if wait:
        return wait
    short = throttle.count(session, key) + need - key.free
    if short > 0:
        return short * key.decay_s
    throttle.failure(session, [key] * units)
    return 0
