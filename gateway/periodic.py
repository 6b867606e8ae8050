"""A daemon thread that does one round of background work at a fixed interval, for the app's lifetime.

A failing round is logged by its error type only (never its message, which could carry data)
and retried at the next one: background work never stops the server.
"""

from __future__ import annotations

import logging
import threading


class PeriodicThread:
    """Subclasses implement :meth:`run_once` (and :meth:`close` for resources of their own)."""

    def __init__(self, name: str, interval_s: float) -> None:
        self.name = name
        self.interval_s = interval_s
        self._log = logging.getLogger(f"gateway.{name}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the rounds use; called once the thread has stopped."""

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                done = self.run_once()
                if any(done.values()):
                    self._log.info("%s round", self.name, extra=done)
            except Exception as exc:  # keep serving; the next round retries
                self._log.error("%s round failed", self.name, extra={"error_type": type(exc).__name__})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"gateway-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.close()
