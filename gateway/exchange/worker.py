"""The in-process background worker: push to verified endpoints, purge ciphertext. Never crashes the app."""

from __future__ import annotations

import logging
import ssl
import threading

import httpx

from ..context import GatewayContext
from .delivery import push_due
from .service import purge

log = logging.getLogger("gateway.worker")


class DeliveryWorker:
    """A daemon thread doing one round every ``delivery_interval_s``; safe on several replicas at once."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        verify: ssl.SSLContext | bool = True
        if ctx.settings.webhook_ca_file:
            verify = ssl.create_default_context(cafile=str(ctx.settings.webhook_ca_file))
        self._http = httpx.Client(timeout=ctx.settings.webhook_timeout_s, verify=verify, follow_redirects=False)

    def run_once(self) -> dict[str, int]:
        counts = push_due(self.ctx, self._http)
        counts.update(purge(self.ctx))
        return counts

    def _loop(self) -> None:
        while not self._stop.wait(self.ctx.settings.delivery_interval_s):
            try:
                self.run_once()
            except Exception as exc:  # keep serving; the next round retries
                log.error("delivery round failed", extra={"error_type": type(exc).__name__})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gateway-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._http.close()
