"""The in-process background worker: push to verified endpoints, purge ciphertext. Never crashes the app."""

from __future__ import annotations

import ssl

import httpx

from ..context import GatewayContext
from ..periodic import PeriodicThread
from .delivery import push_due
from .service import purge


class DeliveryWorker(PeriodicThread):
    """One round every ``delivery_interval_s``; safe on several replicas at once."""

    def __init__(self, ctx: GatewayContext) -> None:
        super().__init__("delivery", ctx.settings.delivery_interval_s)
        self.ctx = ctx
        verify: ssl.SSLContext | bool = True
        if ctx.settings.webhook_ca_file:
            verify = ssl.create_default_context(cafile=str(ctx.settings.webhook_ca_file))
        self._http = httpx.Client(timeout=ctx.settings.webhook_timeout_s, verify=verify, follow_redirects=False)

    def run_once(self) -> dict[str, int]:
        counts = push_due(self.ctx, self._http)
        counts.update(purge(self.ctx))
        return counts

    def close(self) -> None:
        self._http.close()
