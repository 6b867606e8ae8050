"""Scheduled jobs, in process: NRM deadlines (S37, S38, CH14) and consent expiries (CR13).

A :class:`~gateway.periodic.PeriodicThread` runs one round every ``scheduled_jobs_interval_s``.
Each job is idempotent and safe on several replicas at once (an alert is unique per case, kind
and deadline; an expiry is recorded once per consent), so every replica may run it.
"""

from __future__ import annotations

from .consent_api.adapters import consent_service
from .context import GatewayContext
from .nrm.service import run_timers
from .periodic import PeriodicThread
from .statistics.service import StatisticsService


def expire_consents(ctx: GatewayContext, *, batch: int = 1000) -> int:
    """Record the expiry (ending, person notice, audit entry) of every consent past its end date."""
    total = 0
    while True:
        with ctx.sessions() as session, session.begin():
            ended = consent_service(ctx, session).record_expiries(limit=batch)
        total += len(ended)
        if len(ended) < batch:
            return total


class ScheduledJobs(PeriodicThread):
    def __init__(self, ctx: GatewayContext) -> None:
        super().__init__("scheduled-jobs", ctx.settings.scheduled_jobs_interval_s)
        self.ctx = ctx

    def run_once(self) -> dict[str, int]:
        return {"nrm_alerts": len(run_timers(self.ctx.sessions, self.ctx.clock.now())),
                "consents_expired": expire_consents(self.ctx),
                "statistics_entries_read": StatisticsService(self.ctx).refresh()}
