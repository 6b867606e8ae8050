"""``/w``: the agency workspace, one server-rendered page per language; the crypto runs in the browser.

The staff member signs in at ``/staff`` (passkey, or password + code: the console's session, one
cookie). The page then holds the agency's key only in the browser: imported once per device from
the agency's key file, stored encrypted (Argon2id from a passphrase), and used by
``/static/workspace/*.js`` to get the agency's own access tokens (``private_key_jwt`` plus the
person token of RFC 8693, exactly as the SDK does) and to seal, sign, verify and open referrals.
The gateway serves the page, libsodium.js and the JSON API; no private key reaches it.

Every visible string is a gettext msgid of the five catalogues; messages the script shows are
rendered into the page (``#messages``) so the script carries no text of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from consent.vocabulary import AgeBand, ExploitationType, Purpose, Sex

from .. import i18n
from ..console.auth import ConsoleAuth
from ..deps import ContextDep
from ..errors import NotFound, ServiceUnavailable
from ..exchange.catalogue import field_classes, risk_summary_fields
from ..portal.views import LANGUAGE_NAMES, browser_language
from ..staff.roles import Entitlement, entitled
from ..staff.routes import _session_row, _signed_in
from ..web.csrf import csrf_token_matches
from ..web.headers import apply_html_headers
from .assets import SERVED, AssetsMissing, vendor_module

__all__ = ["WORKSPACE_CSP", "router"]

router = APIRouter(prefix="/w", include_in_schema=False)

_CARD_STYLE = i18n.csp_hash((i18n.TEMPLATE_DIR / "consent" / "card.css").read_text(encoding="utf-8"))
WORKSPACE_CSP = (
    f"default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' {_CARD_STYLE}; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)
"""Same-origin scripts and styles, none inline; ``wasm-unsafe-eval`` lets libsodium compile its
WebAssembly (it allows no ``eval`` of script text). The one hashed style is the consent card's own
stylesheet: the card opens for printing in a window of its own (a ``blob:`` document, which inherits
this policy), and no other inline style can match the hash."""


def _lang(request: Request) -> str:
    return i18n.negotiate(request.query_params.get("lang"), browser_language(request))


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    html = i18n.translations().template(lang, f"workspace/{name}").render(
        lang=lang, direction=i18n.text_direction(lang), languages=LANGUAGE_NAMES, **context)
    response = apply_html_headers(HTMLResponse(html))
    response.headers["Content-Security-Policy"] = WORKSPACE_CSP
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@router.get("")
@router.get("/")
def workspace(request: Request, ctx: ContextDep) -> Response:
    """The workspace, or (signed out) where to sign in."""
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session:
        row = _session_row(auth, session, request)
        account = _signed_in(session, row)
        if account is None or row is None or account.agency_id is None:
            return _render(request, "signed_out.html")
        return _render(request, "home.html", username=account.username, agency_id=account.agency_id,
                       roles=sorted(account.all_roles()), csrf_token=row.csrf_token,
                       token_url=ctx.settings.issuer.rstrip("/") + "/oauth/token",
                       server_time=int(ctx.clock.now().timestamp()),
                       idle_timeout_s=auth.store.policy.idle_s, purposes=[p.value for p in Purpose],
                       field_groups=_field_groups(ctx.settings.policy_dir), age_bands=[b.value for b in AgeBand],
                       sexes=[v.value for v in Sex], exploitation_types=[v.value for v in ExploitationType],
                       field_class=field_classes(ctx.settings.policy_dir),
                       risk_summary=risk_summary_fields(ctx.settings.policy_dir),
                       preview_texts=_person_texts("preview_text.html"),
                       consent_texts=_person_texts("consent_text.html"),
                       account_id=account.id,
                       can_approve=entitled(account.all_roles(), Entitlement.APPROVE_EXCEPTION))


def _person_texts(name: str) -> str:
    """What the person reads (the referral's preview, the consent they confirm, the PIN they choose) in
    each of the five languages: ``<template>`` elements rendered from our own autoescaped template, which
    the page includes with ``|safe``. The person reads in their language whatever the page is in."""
    translations = i18n.translations()
    return "\n".join(translations.template(lang, f"workspace/{name}").render(
        lang=lang, direction=i18n.text_direction(lang)) for lang in i18n.LANGUAGES)


def _field_groups(policy_dir: Path) -> list[tuple[str, list[str]]]:
    """The catalogue's field names, grouped by their prefix (``risk.level`` -> ``risk``)."""
    groups: dict[str, list[str]] = {}
    for name in sorted(field_classes(policy_dir)):
        groups.setdefault(name.split(".", 1)[0], []).append(name)
    return list(groups.items())


@router.post("/sign-out")
def sign_out(request: Request, ctx: ContextDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session but keep the encrypted key on the device (``/staff/sign-out`` clears the
    site's storage, which would make the staff member import the key file again every time)."""
    auth = ConsoleAuth(ctx)
    token = request.cookies.get(auth.store.policy.cookie_name)
    with ctx.sessions() as session, session.begin():
        row = auth.store.load(session, token, touch=False)
        if row is not None and csrf_token_matches(row.csrf_token, csrf_token):
            auth.store.end(session, token)
    response = apply_html_headers(RedirectResponse("/w/", status_code=303))
    auth.store.clear_cookie(response)
    response.headers["Clear-Site-Data"] = '"cache", "cookies"'
    return response


@router.get("/vendor/{name}")
def vendor(name: str, request: Request) -> Response:
    """libsodium.js from node_modules (installed by ``npm ci`` from the lockfile)."""
    if name not in SERVED:
        raise NotFound("not_found")
    try:
        module = vendor_module(name)
    except AssetsMissing as exc:
        raise ServiceUnavailable("workspace_assets_missing", str(exc)) from None
    headers = {"ETag": module.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
               "Cross-Origin-Resource-Policy": "same-origin"}
    if request.headers.get("if-none-match") == module.etag:
        return Response(status_code=304, headers=headers)
    return Response(module.body, media_type="text/javascript", headers=headers)
