"""POST each opened referral as JSON to a URL an agency system already reads (e.g. a case system)."""

from __future__ import annotations

from typing import Any

import httpx


class WebhookAdapter:
    """Delivers with ``Idempotency-Key: <referral_id>`` so the receiving system can drop repeats."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout_s, transport=transport)

    def deliver(self, document: dict[str, Any]) -> None:
        response = self._http.post(self.url, json=document,
                                   headers={"Idempotency-Key": str(document["referral_id"])})
        response.raise_for_status()

    def close(self) -> None:
        self._http.close()
