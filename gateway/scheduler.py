"""Scheduled jobs, in process: NRM deadlines (S37, S38, CH14), consent expiries (CR13), the handover
prompt at 18 (CH22), the
aggregated audit of refused token requests and the purges of tables that only grow.

A :class:`~gateway.periodic.PeriodicThread` runs one round every ``scheduled_jobs_interval_s``.
Each job is idempotent and safe on several replicas at once (an alert is unique per case, kind
and deadline; an expiry is recorded once per consent), so every replica may run it.
"""

from __future__ import annotations

from .auth.refusals import RefusalTally
from .consent_api.adapters import consent_service
from .context import GatewayContext
from .exceptions.handover import prompt_handovers
from .nrm.service import run_timers
from .periodic import PeriodicThread
from .retention import purge_growing_tables
from .retention_purge import apply_schedule
from .statistics.service import StatisticsService


def token_refusals(ctx: GatewayContext) -> RefusalTally:
    """The context's tally of refused token requests (shared by the token endpoint and the jobs)."""
    tally = ctx.extras.setdefault("token_refusals", RefusalTally())
    assert isinstance(tally, RefusalTally)
    return tally


def expire_consents(ctx: GatewayContext, *, batch: int = 1000) -> int:
    """Record the expiry (ending, person notice, audit entry) of every consent past its end date."""
    total = 0
    while True:
        with ctx.sessions() as session, session.begin():
            ended = consent_service(ctx, session).record_expiries(limit=batch)
        total += len(ended)
        if len(ended) < batch:
            return total


def handover_prompts(ctx: GatewayContext) -> int:
    """CH22: tell the guardian advocate's service and the owner agency of each child who came of age."""
    with ctx.sessions() as session, session.begin():
        return prompt_handovers(session, ctx.clock.now())


class ScheduledJobs(PeriodicThread):
    def __init__(self, ctx: GatewayContext) -> None:
        super().__init__("scheduled-jobs", ctx.settings.scheduled_jobs_interval_s)
        self.ctx = ctx

    def run_once(self) -> dict[str, int]:
        # The audited retention schedule first (the statistics store then reads its entries in the
        # same round; the unaudited purge of growing tables only meets what the schedule does not cover).
        retention = {f"retention_{k}": v for k, v in apply_schedule(self.ctx).items()}
        return {"nrm_alerts": len(run_timers(self.ctx.sessions, self.ctx.clock.now())),
                "consents_expired": expire_consents(self.ctx),
                "handover_prompts": handover_prompts(self.ctx),
                "statistics_entries_read": StatisticsService(self.ctx).refresh(),
                "token_refusal_entries": token_refusals(self.ctx).flush(self.ctx.sessions, self.ctx.clock.now()),
                **retention,
                **{f"purged_{k}": v for k, v in purge_growing_tables(self.ctx).items()}}
