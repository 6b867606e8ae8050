"""``/staff``: where a staff member signs in (passkey, or password + code), enrols a passkey with the
one-time code their administrator gave them, and gets a person token for their agency's system.

The session is the console's (one cookie, one realm): a DPO who signs in here with a passkey is
signed in to the console too. JSON calls carry the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse

from ..accounts import StaffAccount
from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..console.auth import CONSOLE_ROLES, ConsoleAuth
from ..context import GatewayContext
from ..deps import ContextDep
from ..settings import PACKAGE_ROOT
from ..web.csrf import csrf_token_matches
from ..web.headers import CLEAR_SITE_DATA, apply_html_headers
from ..web.models import WebSession
from . import passkeys
from .passkeys import PasskeyError, RelyingParty

router = APIRouter(prefix="/staff", include_in_schema=False)

_env = Environment(loader=FileSystemLoader(PACKAGE_ROOT / "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
MIN_PASSWORD = 12


def _render(name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("account", None)
    return apply_html_headers(HTMLResponse(_env.get_template(f"staff/{name}").render(**context), status_code=status))


def _redirect(url: str) -> Response:
    return apply_html_headers(RedirectResponse(url, status_code=303))


def _problem(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"type": f"urn:safe-referral:problem:{reason}", "title": "Refused", "status": status,
                         "reason": reason}, status_code=status, media_type="application/problem+json",
                        headers={"Cache-Control": "no-store"})


def _actor(account: StaffAccount) -> Actor:
    return Actor(agency_id=account.agency_id, role=account.role, user=account.id)


def _session_row(auth: ConsoleAuth, session: Session, request: Request) -> WebSession | None:
    return auth.store.from_request(session, request)


def _page_session(auth: ConsoleAuth, session: Session, request: Request) -> tuple[str | None, WebSession]:
    """The browser's session, or a new anonymous one (returns the cookie to set, if new)."""
    row = _session_row(auth, session, request)
    if row is not None:
        return None, row
    token, row = auth.store.start(session, None)
    return token, row


def _signed_in(session: Session, row: WebSession | None) -> StaffAccount | None:
    if row is None or row.principal_id is None:
        return None
    account = session.get(StaffAccount, row.principal_id)
    return account if account is not None and account.usable else None


class _Json(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrolOptionsIn(_Json):
    code: str = Field(min_length=8, max_length=64)


class EnrolIn(_Json):
    code: str = Field(min_length=8, max_length=64)
    password: str = Field(min_length=MIN_PASSWORD, max_length=1024)
    credential: dict[str, Any]


class SignInIn(_Json):
    credential: dict[str, Any]


def _json_session(auth: ConsoleAuth, session: Session, request: Request) -> WebSession | None:
    """The session of a JSON call whose ``X-CSRF-Token`` matches; None otherwise."""
    row = _session_row(auth, session, request)
    if row is None or not csrf_token_matches(row.csrf_token, request.headers.get("x-csrf-token")):
        return None
    return row


# ---------------------------------------------------------------------------- sign-in


@router.get("/sign-in")
def sign_in_page(request: Request, ctx: ContextDep) -> Response:
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        if _signed_in(session, _session_row(auth, session, request)) is not None:
            return _redirect("/staff")
        token, row = auth.store.start(session, None)
        csrf = row.csrf_token
    response = _render("sign_in.html", csrf_token=csrf, error=None)
    auth.store.set_cookie(response, token)
    return response


@router.post("/sign-in")
def sign_in_with_code(request: Request, ctx: ContextDep, csrf_token: Annotated[str, Form()] = "",
                      username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                      code: Annotated[str, Form()] = "") -> Response:
    """The fallback: user name, password and a one-time code from the authenticator app."""
    auth = ConsoleAuth(ctx)
    previous = request.cookies.get(auth.store.policy.cookie_name)
    with ctx.sessions() as session, session.begin():
        row = auth.store.load(session, previous)
        if row is None or not csrf_token_matches(row.csrf_token, csrf_token):
            return _render("sign_in.html", status=403, csrf_token="", error="This form has expired. Reload the page.")
        csrf = row.csrf_token
    address = request.client.host if request.client else "unknown"
    outcome = auth.sign_in(username[:120], password[:1024], code[:12], address, previous_token=previous, roles=None)
    if outcome.ok and outcome.token:
        response = _redirect("/staff")
        auth.store.set_cookie(response, outcome.token)
        return response
    if outcome.retry_after:
        return _render("sign_in.html", status=429, csrf_token=csrf,
                       error=f"Too many failed attempts. Try again in {outcome.retry_after} seconds.")
    return _render("sign_in.html", status=401, csrf_token=csrf,
                   error="Sign-in failed. Check your user name, password and code, and try again.")


@router.post("/passkey/sign-in/options")
def passkey_sign_in_options(request: Request, ctx: ContextDep) -> Response:
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        row = _json_session(auth, session, request)
        if row is None:
            return _problem(403, "csrf_token_invalid")
        options = passkeys.authentication_options(session, RelyingParty.of(ctx.settings.issuer), row.id_hash,
                                                  ctx.clock.now())
    return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post("/passkey/sign-in")
def passkey_sign_in(body: SignInIn, request: Request, ctx: ContextDep) -> Response:
    auth = ConsoleAuth(ctx)
    previous = request.cookies.get(auth.store.policy.cookie_name)
    now = ctx.clock.now()
    reason = "passkey_failed"
    with ctx.sessions() as session, session.begin():
        row = _json_session(auth, session, request)
        if row is None:
            return _problem(403, "csrf_token_invalid")
        try:
            account = passkeys.finish_authentication(session, RelyingParty.of(ctx.settings.issuer), body.credential,
                                                     row.id_hash, now)
        except PasskeyError as exc:
            reason = exc.reason
        else:
            auth.store.end(session, previous)  # a new session id from here on (no fixation)
            token, _new = auth.store.start(session, account.id)
            record(session, AuditEvent(AuditTag.STAFF_SIGN_IN, decision="allow", details={"method": "passkey"}),
                   actor=_actor(account), at=now)
            response = JSONResponse({"next": "/staff"}, headers={"Cache-Control": "no-store"})
            auth.store.set_cookie(response, token)
            return response
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.STAFF_SIGN_IN_FAIL, decision="deny", reason=reason,
                                   details={"method": "passkey"}), actor=Actor(), at=now)
    return _problem(401, "sign_in_failed")


@router.post("/sign-out")
def sign_out(request: Request, ctx: ContextDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    auth = ConsoleAuth(ctx)
    token = request.cookies.get(auth.store.policy.cookie_name)
    with ctx.sessions() as session, session.begin():
        row = auth.store.load(session, token, touch=False)
        if row is not None and csrf_token_matches(row.csrf_token, csrf_token):
            auth.store.end(session, token)
    response = _redirect("/staff/sign-in")
    auth.store.clear_cookie(response)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


# ---------------------------------------------------------------------------- enrolment


@router.get("/enrol")
def enrol_page(request: Request, ctx: ContextDep, code: str = "") -> Response:
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        token, row = _page_session(auth, session, request)
        csrf = row.csrf_token
    response = _render("enrol.html", csrf_token=csrf, code=code[:64])
    if token:
        auth.store.set_cookie(response, token)
    return response


@router.post("/enrol/options")
def enrol_options(body: EnrolOptionsIn, request: Request, ctx: ContextDep) -> Response:
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        row = _json_session(auth, session, request)
        if row is None:
            return _problem(403, "csrf_token_invalid")
        try:
            options = passkeys.registration_options(session, RelyingParty.of(ctx.settings.issuer), body.code,
                                                    row.id_hash, ctx.clock.now())
        except PasskeyError as exc:
            return _problem(422, exc.reason)
    return Response(options, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post("/enrol")
def enrol(body: EnrolIn, request: Request, ctx: ContextDep) -> Response:
    """Register the passkey, set the chosen password, and show the TOTP secret for the fallback."""
    auth = ConsoleAuth(ctx)
    now = ctx.clock.now()
    hasher = ctx.secret_hasher()
    password_hash = hasher.hash(body.password)  # outside the transaction (it is slow on purpose)
    with ctx.sessions() as session, session.begin():
        row = _json_session(auth, session, request)
        if row is None:
            return _problem(403, "csrf_token_invalid")
        try:
            account, enrolment = passkeys.finish_registration(session, RelyingParty.of(ctx.settings.issuer),
                                                              body.code, body.credential, row.id_hash, now)
        except PasskeyError as exc:
            return _problem(422, exc.reason)
        account.password_hash = password_hash
        record(session, AuditEvent(AuditTag.STAFF_PASSKEY_REGISTER, decision="allow",
                                   details={"purpose": enrolment.purpose, "issued_by": enrolment.issued_by}),
               actor=_actor(account), at=now)
        return JSONResponse({"username": account.username, "totp_secret": account.totp_secret},
                            headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------- signed in


def _home(ctx: GatewayContext, request: Request, person_token: str | None = None) -> Response:
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        row = _session_row(auth, session, request)
        account = _signed_in(session, row)
        if account is None or row is None:
            return _redirect("/staff/sign-in")
        roles = sorted(account.all_roles())
        return _render("home.html", account=account, roles=roles, csrf_token=row.csrf_token,
                       person_token=person_token, console=bool(account.all_roles() & CONSOLE_ROLES))


@router.get("")
def home(request: Request, ctx: ContextDep) -> Response:
    return _home(ctx, request)


@router.post("/person-token")
def person_token(request: Request, ctx: ContextDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    """A person token for the signed-in staff member: their agency's client exchanges it (RFC 8693)
    for an access token that acts for them, once, within two minutes."""
    auth = ConsoleAuth(ctx)
    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        row = _session_row(auth, session, request)
        account = _signed_in(session, row)
        if account is None or row is None:
            return _redirect("/staff/sign-in")
        if not csrf_token_matches(row.csrf_token, csrf_token) or account.agency_id is None:
            return _render("sign_in.html", status=403, csrf_token="", error="This form has expired. Reload the page.")
        token, ttl = ctx.tokens.issue_person_token(account.id, account.agency_id, now, account.generation)
        record(session, AuditEvent(AuditTag.STAFF_PERSON_TOKEN, decision="allow", details={"expires_in": ttl}),
               actor=_actor(account), at=now)
    if "application/json" in request.headers.get("accept", ""):
        # For a staff member's own tool (connectors.staff): the same token, as JSON.
        return JSONResponse({"person_token": token, "expires_in": ttl,
                             "token_type": "urn:ietf:params:oauth:token-type:jwt"},
                            headers={"Cache-Control": "no-store"})
    return _home(ctx, request, person_token=token)
