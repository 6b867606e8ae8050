"""Scheduled jobs, in process: NRM deadlines (S37, S38, CH14) and consent expiries (CR13).

A daemon thread runs one round every ``scheduled_jobs_interval_s``. Each job is idempotent and
safe on several replicas at once (an alert is unique per case, kind and deadline; an expiry is
recorded once per consent), so every replica may run it. A failing round is logged by its
error type and retried at the next one; it never stops the server.
"""

from __future__ import annotations

import logging
import threading

from .consent_api.adapters import consent_service
from .context import GatewayContext
from .nrm.service import run_timers

log = logging.getLogger("gateway.scheduler")


def expire_consents(ctx: GatewayContext, *, batch: int = 1000) -> int:
    """Record the expiry (ending, person notice, audit entry) of every consent past its end date."""
    total = 0
    while True:
        with ctx.sessions() as session, session.begin():
            ended = consent_service(ctx, session).record_expiries(limit=batch)
        total += len(ended)
        if len(ended) < batch:
            return total


class ScheduledJobs:
    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        return {"nrm_alerts": len(run_timers(self.ctx.sessions, self.ctx.clock.now())),
                "consents_expired": expire_consents(self.ctx)}

    def _loop(self) -> None:
        while not self._stop.wait(self.ctx.settings.scheduled_jobs_interval_s):
            try:
                done = self.run_once()
                if any(done.values()):
                    log.info("scheduled jobs", extra=done)
            except Exception as exc:  # keep serving; the next round retries
                log.error("scheduled jobs round failed", extra={"error_type": type(exc).__name__})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gateway-scheduled-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
