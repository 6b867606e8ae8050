"""Acting for a signed-in person: how an agency's system gets a staff member's person token.

A staff member signs in at ``<gateway>/staff`` (a passkey, or password + a code from their
authenticator app) and presses "Get a person token"; their agency's system then exchanges that
token (RFC 8693) with :meth:`connectors.client.GatewayClient.acting_for`. The token works once,
for two minutes, and only for the agency's own client.

:func:`person_token_with_code` does the fallback sign-in from a script (demos, tests, a staff
member's own command-line tool); it needs the person's password and authenticator secret, so it
belongs on the person's own device, never in the agency's shared system.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
import pyotp

from .errors import GatewayAPIError

__all__ = ["person_token_with_code"]

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
COOKIE = "__Host-gw-console"


def _cookie(response: httpx.Response, current: str | None) -> str | None:
    # Managed by hand: the session cookie is Secure, and a plain-http demo gateway would lose it.
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == COOKIE:
            return rest.split(";", 1)[0] or None
    return current


def person_token_with_code(base_url: str, username: str, password: str, totp_secret: str, *,
                           now: Callable[[], float] = time.time,
                           transport: httpx.BaseTransport | None = None) -> str:
    """Sign in with the fallback (password + one-time code) and return a fresh person token."""
    with httpx.Client(base_url=base_url.rstrip("/"), transport=transport, follow_redirects=False) as http:
        page = http.get("/staff/sign-in")
        cookie = _cookie(page, None)
        found = _CSRF_FIELD.search(page.text)
        if not found or not cookie:
            raise GatewayAPIError(page.status_code, "staff_sign_in_unavailable", "no sign-in form")
        code = pyotp.TOTP(totp_secret).at(int(now()))
        signed = http.post("/staff/sign-in", headers={"Cookie": f"{COOKIE}={cookie}"}, data={
            "csrf_token": found.group(1), "username": username, "password": password, "code": code})
        if signed.status_code != 303:
            raise GatewayAPIError(signed.status_code, "sign_in_failed", "user name, password or code refused")
        cookie = _cookie(signed, cookie)
        home = http.get("/staff", headers={"Cookie": f"{COOKIE}={cookie}"})
        meta = _CSRF_META.search(home.text)
        if home.status_code != 200 or not meta:
            raise GatewayAPIError(home.status_code, "sign_in_failed", "no staff session")
        issued = http.post("/staff/person-token", data={"csrf_token": meta.group(1)},
                           headers={"Cookie": f"{COOKIE}={cookie}", "Accept": "application/json"})
        if issued.status_code != 200:
            raise GatewayAPIError(issued.status_code, "person_token_refused", issued.text[:200])
        return str(issued.json()["person_token"])
