"""``/p/``: the person's portal. Server-rendered pages that work with JavaScript switched off.

Every page has the quick exit (a plain link to ``/p/exit``: the session ends server-side,
``Clear-Site-Data`` is sent and the browser is sent on to an ordinary site; with JavaScript,
``/p/s/exit.js`` uses ``location.replace`` so Back does not return), the language switch
and, once signed in, "Sign out". Every form carries the session's CSRF token; a POST
without the right one is refused before anything else happens. Nothing under ``/p/`` is
written to the access log (``gateway.http``), and every response carries the headers of
:func:`gateway.portal.views.apply_portal_headers`.

A duress session is a consistent decoy (:mod:`gateway.portal.decoy`): the consents in force as the
card shows them, every action answered as in a real session and kept only in that session.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.responses import FileResponse, RedirectResponse

from consent import Actor as ConsentActor
from consent import ConflictError, NotFoundError
from consent.subjects import Subject
from consent.vocabulary import DATA_CLASSES, Channel
from kernel.ids import SHORT, new_id

from .. import i18n
from ..audit import subject_keys
from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..consent_api.adapters import consent_service
from ..context import GatewayContext
from ..deps import ContextDep
from ..settings import PACKAGE_ROOT
from ..web.client_address import client_address
from ..web.csrf import csrf_token_matches
from ..web.headers import CLEAR_SITE_DATA
from . import content, decoy
from .auth import Person, PortalAuth
from .models import (
    MESSAGE_KEY,
    ROUTED_TO,
    PortalRequest,
    PortalRequestEvent,
    PortalSessionState,
    RequestKind,
    RequestStatus,
)
from .pre_sign_in import PRE_KEY_LABEL, PreSignIn, PreSignInTokens
from .views import apply_portal_headers, browser_language, render

router = APIRouter(include_in_schema=False)

STATIC_DIR = PACKAGE_ROOT / "static" / "portal"
STATIC_FILES = {"portal.css": "text/css; charset=utf-8", "exit.js": "text/javascript; charset=utf-8",
                "icon.svg": "image/svg+xml"}
MESSAGE_MAX = 2000
PAGES = ("/p/", "/p/past", "/p/shared", "/p/rules", "/p/requests", "/p/correction", "/p/complaint")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")

Field = Annotated[str, Form()]


def _redirect(url: str) -> Response:
    return apply_portal_headers(RedirectResponse(url, status_code=303))


def _address(request: Request, ctx: GatewayContext) -> str:
    return client_address(request, ctx.settings.trusted_proxies)


def _subject_language(session: Session, subject_id: str) -> str | None:
    subject = session.get(Subject, subject_id)
    return subject.preferred_language if subject is not None else None


def _language(session: Session, request: Request, person: Person | None, state: PortalSessionState | None,
              pre: PreSignIn | None) -> str:
    chosen = state.lang if state is not None else pre.lang if pre is not None else None
    if person is not None:
        return i18n.negotiate(chosen, _subject_language(session, person.subject_id))
    return i18n.negotiate(chosen, browser_language(request))


class Page:
    """The request's portal session, looked up once: who (if anyone), which language, which token."""

    def __init__(self, ctx: GatewayContext, request: Request, session: Session) -> None:
        self.auth = PortalAuth(ctx)
        self.person, self.row, self.state = self.auth.current(session, request)
        self.now = ctx.clock.now()
        self.pre_tokens = pre_sign_in_tokens(ctx)
        self.pre = self.pre_tokens.from_request(request, self.now)
        self.lang = _language(session, request, self.person, self.state, self.pre)
        self.request = request
        self.new_pre: PreSignIn | None = None

    @property
    def csrf(self) -> str:
        if self.row is not None:
            return self.row.csrf_token
        return self.pre.csrf_token if self.pre is not None else ""

    def ensure_anonymous(self, session: Session) -> None:
        """The sign-in form's CSRF token: a signed pre-sign-in cookie, no database row (kept if live)."""
        if self.row is None and self.pre is None:
            self.pre = self.new_pre = self.pre_tokens.issue(self.now, None)

    def form_token_matches(self, submitted: str) -> bool:
        """The session's CSRF token or, before signing in, the pre-sign-in cookie's."""
        if self.row is not None:
            return csrf_token_matches(self.row.csrf_token, submitted)
        return PreSignInTokens.matches(self.pre, submitted)

    def finish(self, response: Response) -> Response:
        if self.new_pre is not None:
            PreSignInTokens.set_cookie(response, self.new_pre)
        return response

    def render(self, name: str, *, status: int = 200, headers: dict[str, str] | None = None,
               **context: Any) -> Response:
        here = self.request.url.path if self.request.url.path in PAGES else "/p/"
        context.setdefault("nav", "")
        return self.finish(render(self.lang, name, status=status, headers=headers, csrf_token=self.csrf,
                                  person=self.person, here=here, **context))


def pre_sign_in_tokens(ctx: GatewayContext) -> PreSignInTokens:
    """The signer of pre-sign-in cookies (a key of its own, derived from the gateway's seed)."""
    return PreSignInTokens(ctx.at_rest_key(PRE_KEY_LABEL), ctx.settings.portal_session_absolute_s)


def _sign_in_page(page: Page, session: Session, *, status: int = 200, error: str | None = None,
                  notice: str | None = None, retry_after: int = 0) -> Response:
    page.ensure_anonymous(session)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return page.render("sign_in.html", status=status, headers=headers, error=error, notice=notice,
                       retry_after=retry_after)


def _refused(page: Page) -> Response:
    return page.render("message.html", status=403, message="expired_form")


def _signed_in_or_sign_in(page: Page, session: Session) -> Response | Person:
    if page.person is None:
        expired = page.request.cookies.get(page.auth.store.policy.cookie_name) is not None and page.row is None
        return _sign_in_page(page, session, notice="expired" if expired else None)
    return page.person


def _person_page(ctx: GatewayContext, request: Request,
                 view: Callable[[Page, Session, Person], Response]) -> Response:
    """A signed-in page: one transaction, and the sign-in page instead when nobody is signed in."""
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        person = _signed_in_or_sign_in(page, session)
        if isinstance(person, Response):
            return person
        return view(page, session, person)


# ---------------------------------------------------------------------------- entry points


@router.get("/portal")
def card_link() -> Response:
    """The address printed on the consent card."""
    return _redirect("/p/")


@router.get("/p/")
def home(request: Request, ctx: ContextDep, left: int = 0) -> Response:
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        if page.person is None:
            expired = (request.cookies.get(page.auth.store.policy.cookie_name) is not None and page.row is None
                       and not left)
            return _sign_in_page(page, session, notice="left" if left else "expired" if expired else None)
        person = page.person
        now = ctx.clock.now()
        if person.duress and page.state is not None:
            live, _past = decoy.consents(session, page.state, person.subject_id, now)
            news = decoy.notices(session, page.state, person.subject_id, now, limit=5)
        else:
            live, _past = content.consents(session, person.subject_id, now)
            news = content.notices(session, person.subject_id, now, limit=5)
        return page.render("home.html", consents=live, notices=news, nav="home")


@router.post("/p/sign-in")
def sign_in(request: Request, ctx: ContextDep, csrf_token: Field = "", code: Field = "", pin: Field = "") -> Response:
    auth = PortalAuth(ctx)
    previous = request.cookies.get(auth.store.policy.cookie_name)
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        if not page.form_token_matches(csrf_token):
            page.row = page.pre = None  # a fresh form with a fresh token
            return _sign_in_page(page, session, status=403, error="expired_form")
        lang = page.state.lang if page.state is not None else page.pre.lang if page.pre is not None else None
    outcome = auth.sign_in(code[:64], pin[:64], _address(request, ctx), previous_token=previous, lang=lang)
    if outcome.ok and outcome.token:
        response = _redirect("/p/")
        auth.store.set_cookie(response, outcome.token)
        PreSignInTokens.clear_cookie(response)
        return response
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        if outcome.retry_after:
            return _sign_in_page(page, session, status=429, error="wait", retry_after=outcome.retry_after)
        return _sign_in_page(page, session, status=401, error="failed")


def _end_session(ctx: GatewayContext, request: Request, how: str) -> None:
    auth = PortalAuth(ctx)
    with ctx.sessions() as session, session.begin():
        subject_id = auth.end(session, request.cookies.get(auth.store.policy.cookie_name))
        if subject_id:
            record(session, AuditEvent(AuditTag.PORTAL_SIGN_OUT, decision="info", subject_id=subject_id,
                                       details={"how": how}), actor=Actor(role="person"), at=ctx.clock.now())


def _cleared(response: Response, ctx: GatewayContext) -> Response:
    PortalAuth(ctx).store.clear_cookie(response)
    PreSignInTokens.clear_cookie(response)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


@router.get("/p/exit")
def quick_exit(request: Request, ctx: ContextDep) -> Response:
    """Leave at once for an ordinary site: no token needed, nothing asked, the session is gone."""
    _end_session(ctx, request, "exit")
    response = RedirectResponse(ctx.settings.portal_exit_url, status_code=303)
    return _cleared(apply_portal_headers(response), ctx)


@router.post("/p/leave")
def leave(request: Request, ctx: ContextDep, csrf_token: Field = "") -> Response:
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        if page.row is not None and not csrf_token_matches(page.row.csrf_token, csrf_token):
            return _refused(page)
    _end_session(ctx, request, "leave")
    return _cleared(_redirect("/p/?left=1"), ctx)


@router.post("/p/lang")
def choose_language(request: Request, ctx: ContextDep, csrf_token: Field = "", lang: Field = "",
                    next_page: Annotated[str, Form(alias="next")] = "/p/") -> Response:
    target = next_page if next_page in PAGES else "/p/"
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        if page.row is None:  # before signing in: the language rides in the pre-sign-in cookie
            if page.pre is None:
                return _redirect(target)
            if not page.form_token_matches(csrf_token):
                return _refused(page)
            response = _redirect(target)
            if lang in i18n.LANGUAGES:
                PreSignInTokens.set_cookie(response, page.pre_tokens.issue(page.now, lang))
            return response
        if not csrf_token_matches(page.row.csrf_token, csrf_token):
            return _refused(page)
        if lang in i18n.LANGUAGES:
            if page.state is None:
                session.add(PortalSessionState(id_hash=page.row.id_hash, subject_id=None, duress=False, lang=lang,
                                               created_at=ctx.clock.now()))
            else:
                page.state.lang = lang
    return _redirect(target)


@router.get("/p/s/{name}")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return apply_portal_headers(Response(status_code=404))
    return apply_portal_headers(FileResponse(Path(STATIC_DIR / name), media_type=STATIC_FILES[name]))


# ---------------------------------------------------------------------------- signed-in pages


@router.get("/p/past")
def past(request: Request, ctx: ContextDep) -> Response:
    def view(page: Page, session: Session, person: Person) -> Response:
        if person.duress and page.state is not None:
            _live, history = decoy.consents(session, page.state, person.subject_id, ctx.clock.now())
        else:
            _live, history = content.consents(session, person.subject_id, ctx.clock.now())
        return page.render("past.html", consents=history, nav="past")

    return _person_page(ctx, request, view)


@router.get("/p/shared")
def shared(request: Request, ctx: ContextDep) -> Response:
    def view(page: Page, session: Session, person: Person) -> Response:
        rows = [] if person.duress else content.disclosures(session, person.subject_id, ctx.clock.now())
        sealed = [] if person.duress else content.sealings(session, person.subject_id)
        return page.render("shared.html", disclosures=rows, sealings=sealed, nav="shared")

    return _person_page(ctx, request, view)


@router.get("/p/rules")
def rules(request: Request, ctx: ContextDep) -> Response:
    def view(page: Page, session: Session, person: Person) -> Response:
        rows = content.exceptions_that_apply(session, person.subject_id, ctx.clock.now(), ctx.settings.policy_dir)
        return page.render("rules.html", exceptions=rows, nav="rules")

    return _person_page(ctx, request, view)


@router.get("/p/requests")
def my_requests(request: Request, ctx: ContextDep, sent: int = 0) -> Response:
    def view(page: Page, session: Session, person: Person) -> Response:
        rows = (decoy.requests(session, page.state) if person.duress and page.state is not None
                else content.requests(session, person.subject_id))
        return page.render("requests.html", requests=rows, sent=bool(sent), nav="requests")

    return _person_page(ctx, request, view)


def _form(page: Page, session: Session, ctx: GatewayContext, kind: str, *, status: int = 200,
          error: str | None = None) -> Response:
    person = page.person
    agencies = {} if person is None else content.involved_agencies(session, person.subject_id)
    return page.render("request_form.html", status=status, kind=kind, agencies=agencies, classes=DATA_CLASSES,
                       error=error, nav=kind, message_max=MESSAGE_MAX)


@router.get("/p/correction")
def correction_form(request: Request, ctx: ContextDep) -> Response:
    return _person_page(ctx, request, lambda page, session, _person: _form(page, session, ctx,
                                                                           RequestKind.CORRECTION))


@router.get("/p/complaint")
def complaint_form(request: Request, ctx: ContextDep) -> Response:
    return _person_page(ctx, request, lambda page, session, _person: _form(page, session, ctx,
                                                                           RequestKind.COMPLAINT))


def clean_message(text: str) -> str:
    """The person's words as typed, minus control and bidi-override characters, NFC, trimmed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).strip()


@router.post("/p/requests")
def send_request(request: Request, ctx: ContextDep, csrf_token: Field = "", kind: Field = "", about: Field = "",
                 topic: Field = "", message: Field = "") -> Response:
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        person = _signed_in_or_sign_in(page, session)
        if isinstance(person, Response):
            return person
        if not csrf_token_matches(person.csrf_token, csrf_token):
            return _refused(page)
        if kind not in (RequestKind.CORRECTION, RequestKind.COMPLAINT):
            return _redirect("/p/requests")
        text = clean_message(message)
        if not text:
            return _form(page, session, ctx, kind, status=400, error="empty")
        if len(text) > MESSAGE_MAX:
            return _form(page, session, ctx, kind, status=400, error="too_long")
        involved = content.involved_agencies(session, person.subject_id)
        now = ctx.clock.now()
        about_id = about if about in involved else None
        if person.duress and page.state is not None:  # listed as sent in this session, kept nowhere else
            decoy.record_request(page.state, kind=kind, about=about_id, now=now)
            return _redirect("/p/requests?sent=1")
        request_id = new_id("req", size=SHORT)
        row = PortalRequest(
            id=request_id, subject_id=person.subject_id, kind=kind,
            about_agency_id=about_id,
            topic=topic if kind == RequestKind.CORRECTION and topic in DATA_CLASSES else None,
            message=ctx.at_rest().seal(MESSAGE_KEY, text, where=request_id,
                                       subject_key=subject_keys.text_key(session, person.subject_id, at=now)),
            routed_to=list(ROUTED_TO),
            status=RequestStatus.RECEIVED, outcome=None, created_at=now, updated_at=now,
        )
        session.add(row)
        session.flush()
        session.add(PortalRequestEvent(id=new_id("rqe", size=SHORT), request_id=row.id,
                                       status=RequestStatus.RECEIVED, outcome=None, at=now, by_role="person",
                                       by_user=None, note=None))
        # No agency id in the entry: agencies read only entries they acted in or received, and
        # the agency a request is about must not learn of it (routed to the DPO and the monitoring body).
        record(session, AuditEvent(AuditTag.PORTAL_REQUEST_CREATE, decision="info", subject_id=person.subject_id,
                                   details={"request_id": row.id, "kind": kind, "routed_to": list(ROUTED_TO)}),
               actor=Actor(role="person"), at=now)
    return _redirect("/p/requests?sent=1")


@router.post("/p/choices/{consent_id}/withdraw")
def withdraw(consent_id: str, request: Request, ctx: ContextDep, csrf_token: Field = "") -> Response:
    """One button, one step (CR14): effective for the very next decision; the answer says what
    changes, with the notices the consent service returns (CR15 open case, CR16)."""
    with ctx.sessions() as session, session.begin():
        page = Page(ctx, request, session)
        person = _signed_in_or_sign_in(page, session)
        if isinstance(person, Response):
            return person
        if not csrf_token_matches(person.csrf_token, csrf_token):
            return _refused(page)
        if person.duress and page.state is not None:
            return _decoy_withdraw(page, session, person, consent_id[:80], ctx.clock.now())
        svc = consent_service(ctx, session, getattr(request.state, "request_id", None))
        try:
            result = svc.withdraw(consent_id[:80], actor=ConsentActor.person(), channel=Channel.PORTAL,
                                  subject_id=person.subject_id)
        except NotFoundError:
            return page.render("message.html", status=404, message="not_found")
        except ConflictError:
            return page.render("message.html", status=409, message="already_ended")
        record_ = result.record
        names = content.agency_names(session, record_.recipient_ids)
        open_cases: list[str] = []
        services_unchanged = False
        for notice in result.notices:
            if notice.kind == "investigation_may_continue":
                open_cases = [str(r.get("name") or r.get("agency_id")) for r in notice.details["open_case_recipients"]]
            elif notice.kind == "services_unchanged":
                services_unchanged = True
        return page.render("withdrawn.html", purpose=record_.purpose,
                           recipients=[names.get(a, a) for a in record_.recipient_ids], open_cases=open_cases,
                           services_unchanged=services_unchanged, nav="home")


def _decoy_withdraw(page: Page, session: Session, person: Person, consent_id: str, now: Any) -> Response:
    """A duress session's withdrawal: the same answers as :func:`withdraw`, kept only in the decoy."""
    assert page.state is not None
    try:
        result = decoy.withdraw(session, page.state, person.subject_id, consent_id, now)
    except NotFoundError:
        return page.render("message.html", status=404, message="not_found")
    except ConflictError:
        return page.render("message.html", status=409, message="already_ended")
    names = content.agency_names(session, result.recipient_ids)
    return page.render("withdrawn.html", purpose=result.purpose,
                       recipients=[names.get(a, a) for a in result.recipient_ids], open_cases=list(result.open_cases),
                       services_unchanged=result.services_unchanged, nav="home")


__all__ = ["PAGES", "clean_message", "router"]
