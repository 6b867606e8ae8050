"""``GatewayClient``: the agency side of the gateway API, with token handling.

Private keys never leave this process: the client signs its own client assertions and,
for referrals, seals and opens payloads locally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from crypto.keys import AgencyKeyPair

from .assertion import token_request_form
from .errors import GatewayAPIError

JSONDict = dict[str, Any]


class GatewayClient:
    """A connection to one gateway as one agency."""

    def __init__(
        self,
        base_url: str,
        agency_id: str,
        keys: AgencyKeyPair,
        *,
        scope: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.agency_id = agency_id
        self.keys = keys
        self.scope = scope
        self._now = now
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- auth --------------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    def token(self) -> str:
        """A valid access token, fetched with a fresh client assertion when the last one nears expiry."""
        if self._token is None or self._now() > self._token_expires - 30:
            form = token_request_form(self.agency_id, self.keys.signing_seed, self.token_url, scope=self.scope,
                                      now=self._now())
            body = self._check(self._http.post("/oauth/token", data=form))
            self._token = str(body["access_token"])
            self._token_expires = self._now() + float(body["expires_in"])
        return self._token

    # -- plumbing ----------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, params: JSONDict | None = None,
                headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
        response = self._http.request(method, path, json=json, params=params, headers=all_headers)
        if response.status_code == 401 and self._token is not None:
            self._token = None  # revoked or expired early: one retry with a fresh token
            all_headers["Authorization"] = f"Bearer {self.token()}"
            response = self._http.request(method, path, json=json, params=params, headers=all_headers)
        return self._check(response)

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise GatewayAPIError(response.status_code, str(body.get("reason", "http_error")),
                                  str(body.get("detail", "")), body if isinstance(body, dict) else {})
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith(("application/json", "application/problem+json")):
            return response.json()
        return response.text

    # -- registry ----------------------------------------------------------------------
    def me(self) -> JSONDict:
        return dict(self.request("GET", "/v1/agencies/me"))

    def agencies(self) -> list[JSONDict]:
        return list(self.request("GET", "/v1/agencies"))

    def recipient_key(self, agency_id: str, key_id: str | None = None) -> JSONDict:
        params = {"key_id": key_id} if key_id else None
        return dict(self.request("GET", f"/v1/agencies/{agency_id}/recipient-key", params=params))
