"""The in-process timer thread: runs the NRM timers every ``nrm_timer_interval_s``. Never crashes the app."""

from __future__ import annotations

import logging
import threading

from ..context import GatewayContext
from .service import run_timers

log = logging.getLogger("gateway.nrm")


class TimerWorker:
    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        return len(run_timers(self.ctx.sessions, self.ctx.clock.now()))

    def _loop(self) -> None:
        while not self._stop.wait(self.ctx.settings.nrm_timer_interval_s):
            try:
                raised = self.run_once()
                if raised:
                    log.info("nrm timers raised alerts", extra={"alerts": raised})
            except Exception as exc:  # keep serving; the next round retries
                log.error("nrm timer round failed", extra={"error_type": type(exc).__name__})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gateway-nrm-timers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
