"""``/console``: the DPO and monitoring-body console. Server-rendered pages, no script.

Every page that shows entries records, in the same transaction as the read, an
``audit:log:view`` entry (``audit:log:export`` for exports) naming the staff member:
access to the log is itself in the log. Every form carries the session's CSRF token;
a POST without the right one is refused with 403 before anything else happens.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse

from crypto import note as notes
from crypto.keys import signing_public_key
from crypto.merkle import verify_inclusion

from ..audit import checkpoints, search, tallies, tree
from ..audit.log import AuditEvent, compute_leaf_hash, record
from ..audit.models import AuditEntry
from ..audit.search import DASHBOARDS
from ..audit.tags import AuditTag
from ..audit.verify import Problem, last_verification, record_verification, verify_database
from ..audit.witnessed import newest_witnessed_head, verify_witnessed
from ..context import GatewayContext
from ..deps import ContextDep
from ..query_bounds import INT64_MAX
from ..web.client_address import client_address
from ..web.csrf import csrf_token_matches
from ..web.headers import CLEAR_SITE_DATA, apply_html_headers
from .auth import AUDIT_ROLES, ConsoleAuth, Staff
from .views import FilterForm, entry_views, render

router = APIRouter(prefix="/console", include_in_schema=False)
PAGE = 50

Csrf = Annotated[str, Form()]
Before = Annotated[int | None, Query(ge=0, le=INT64_MAX)]


def _redirect(url: str) -> Response:
    return apply_html_headers(RedirectResponse(url, status_code=303))


def _signed_in(ctx: GatewayContext, request: Request, session: Session) -> Staff | None:
    staff, _row = ConsoleAuth(ctx).current(session, request)
    return staff


def _forbidden(staff: Staff | None = None) -> Response:
    return render("message.html", status=403, staff=staff, title="Request refused",
                  message="This form has expired or did not come from the console. Go back, reload the page "
                          "and try again.")


def _log_access(session: Session, staff: Staff, ctx: GatewayContext, tag: AuditTag, *,
                subject_id: str | None = None, details: dict[str, Any]) -> None:
    record(session, AuditEvent(tag, decision="allow", subject_id=subject_id, purpose="oversight", details=details),
           actor=staff.actor(), at=ctx.clock.now())


# ---------------------------------------------------------------------------- sign-in


@router.get("/login")
def login_form(request: Request, ctx: ContextDep, expired: int = 0, signed_out: int = 0) -> Response:
    auth = ConsoleAuth(ctx)
    with ctx.sessions() as session, session.begin():
        staff, _ = auth.current(session, request)
        if staff is not None:
            return _redirect("/console")
        token, row = auth.store.start(session, None)
        csrf = row.csrf_token
    notice = ("You were signed out after a period of inactivity." if expired
              else "You are signed out." if signed_out else None)
    response = render("login.html", csrf_token=csrf, notice=notice, error=None, staff=None)
    auth.store.set_cookie(response, token)
    return response


@router.post("/login")
def login(
    request: Request, ctx: ContextDep, csrf_token: Csrf = "", username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "",
) -> Response:
    auth = ConsoleAuth(ctx)
    previous = request.cookies.get(auth.store.policy.cookie_name)
    with ctx.sessions() as session, session.begin():
        row = auth.store.load(session, previous)
        if row is None or not csrf_token_matches(row.csrf_token, csrf_token):
            return _forbidden()
        csrf = row.csrf_token
    address = client_address(request, ctx.settings.trusted_proxies)
    outcome = auth.sign_in(username[:120], password[:1024], code[:12], address, previous_token=previous)
    if outcome.ok and outcome.token:
        response = _redirect("/console")
        auth.store.set_cookie(response, outcome.token)
        return response
    if outcome.retry_after:
        return render("login.html", status=429, headers={"Retry-After": str(outcome.retry_after)},
                      csrf_token=csrf, staff=None, notice=None,
                      error=f"Too many failed attempts. Try again in {outcome.retry_after} seconds.")
    return render("login.html", status=401, csrf_token=csrf, staff=None, notice=None,
                  error="Sign-in failed. Check your user name, password and code, and try again.")


@router.post("/logout")
def logout(request: Request, ctx: ContextDep, csrf_token: Csrf = "") -> Response:
    auth = ConsoleAuth(ctx)
    token = request.cookies.get(auth.store.policy.cookie_name)
    with ctx.sessions() as session, session.begin():
        row = auth.store.load(session, token, touch=False)
        if row is None:
            return _redirect("/console/login?expired=1")
        if not csrf_token_matches(row.csrf_token, csrf_token):
            return _forbidden()
        auth.store.end(session, token)
    response = _redirect("/console/login?signed_out=1")
    auth.store.clear_cookie(response)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def _require(ctx: GatewayContext, request: Request, session: Session) -> Staff | Response:
    staff = _signed_in(ctx, request, session)
    if staff is None:
        expired = request.cookies.get(ConsoleAuth(ctx).store.policy.cookie_name) is not None
        return _redirect("/console/login" + ("?expired=1" if expired else ""))
    if staff.role not in AUDIT_ROLES:  # the rapporteur: anonymised statistics only
        return _redirect("/console/statistics")
    return staff


# ---------------------------------------------------------------------------- pages


def overview(session: Session, policy_dir: Path | None) -> dict[str, Any]:
    """What the home page shows: the log's size, its latest checkpoint and verification, and how
    many entries each dashboard holds (from the tallies: :mod:`gateway.audit.tallies`).

    Call in a writing transaction (the tallies move on). ``bench/national.py`` times this.
    """
    return {"tree_size": tree.tree_size(session), "latest": checkpoints.latest_checkpoint(session),
            "verification": last_verification(session), "counts": tallies.dashboard_counts(session, policy_dir)}


@router.get("")
def home(request: Request, ctx: ContextDep, verified: int = 0) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        return render("home.html", staff=staff, **overview(session, ctx.settings.policy_dir),
                      dashboards=DASHBOARDS, just_verified=bool(verified),
                      interval=ctx.settings.audit_checkpoint_interval_s)


@router.get("/entries")
def entries(request: Request, ctx: ContextDep, before: Before = None) -> Response:
    form = FilterForm.parse(request.query_params)
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        page = search.find_entries(session, form.filter, before=before, limit=PAGE + 1)
        more = len(page) > PAGE
        page = page[:PAGE]
        # A subject's trail is logged under that subject, so the person sees who looked; a
        # subject id that matched nothing is not recorded (it may be a mistyped name).
        _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW,
                    subject_id=form.filter.subject_id if page and form.filter.subject_id else None,
                    details={"view": "search", "filters": form.filter.describe(), "results": len(page),
                             "before": before,
                             "subject_matched": bool(page) if form.filter.subject_id else None})
        return render("entries.html", staff=staff, form=form, rows=entry_views(session, page),
                      older=form.query(before=page[-1].seq) if more else None,
                      newest=form.query() if before is not None else None, dashboard=None, summary=None)


@router.get("/dashboards/{name}")
def dashboard(name: str, request: Request, ctx: ContextDep, before: Before = None) -> Response:
    board = DASHBOARDS.get(name)
    form = FilterForm.parse(request.query_params)
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        if board is None:
            return render("message.html", status=404, staff=staff, title="Not found", message="No such dashboard.")
        condition = board.condition(ctx.settings.policy_dir)
        summary = search.dashboard_summary(session, board, ctx.settings.policy_dir, form.filter)
        page = search.find_entries(session, form.filter, extra=condition, before=before, limit=PAGE + 1)
        more = len(page) > PAGE
        page = page[:PAGE]
        _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW,
                    details={"view": "dashboard", "dashboard": name, "filters": form.filter.describe(),
                             "results": len(page)})
        return render("entries.html", staff=staff, form=form, rows=entry_views(session, page),
                      older=form.query(before=page[-1].seq) if more else None,
                      newest=form.query() if before is not None else None, dashboard=board, summary=summary)


def _log_key(ctx: GatewayContext) -> notes.Verifier | None:
    """The checkpoint verifier key from configuration (else the checkpoint key's own verifier)."""
    if ctx.settings.checkpoint_verifier:
        return notes.Verifier.parse(ctx.settings.checkpoint_verifier)
    signer = ctx.note_signer()
    return signer.verifier() if signer is not None else None


def _inclusion(session: Session, ctx: GatewayContext, entry: AuditEntry) -> dict[str, Any]:
    """Check the entry against the newest checkpoint the configured witnesses cosigned, from its content
    up: the checkpoint key's signature, a quorum of witness cosignatures, and the inclusion proof. The
    gateway's own token-signing key plays no part (the operator holds it)."""
    log_key = _log_key(ctx)
    if log_key is None:
        return {"status": "failed", "checkpoint": None, "problems": ["no checkpoint key is configured"]}
    head, problems = newest_witnessed_head(session, log_key=log_key, witnesses=ctx.witnesses(),
                                           quorum=ctx.settings.witness_quorum)
    if head is None or entry.seq >= head.tree_size:
        return {"status": "failed" if problems else "pending", "checkpoint": head, "problems": problems}
    content_leaf = bytes.fromhex(compute_leaf_hash(entry))
    proof = tree.inclusion_proof(session, entry.seq, head.tree_size)
    if content_leaf.hex() != entry.leaf_hash:
        problems.append("the entry's content does not match its stored hash")
    if not verify_inclusion(content_leaf, entry.seq, head.tree_size, proof, bytes.fromhex(head.root_hash)):
        problems.append("the inclusion proof does not lead to the witnessed root")
    return {"status": "failed" if problems else "verified", "checkpoint": head, "problems": problems,
            "proof": [p.hex() for p in proof], "leaf": content_leaf.hex()}


@router.get("/entries/{seq}")
def entry_detail(seq: Annotated[int, FastAPIPath(ge=0, le=INT64_MAX)], request: Request, ctx: ContextDep) -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        entry = session.get(AuditEntry, seq)
        if entry is None:
            return render("message.html", status=404, staff=staff, title="Not found", message="No such entry.")
        inclusion = _inclusion(session, ctx, entry)
        _log_access(session, staff, ctx, AuditTag.AUDIT_VIEW, subject_id=entry.subject_id,
                    details={"view": "entry", "seq": seq})
        return render("entry.html", staff=staff, row=entry_views(session, [entry])[0], inclusion=inclusion)


FormField = Annotated[str, Form()]


@router.post("/export")
def export(
    request: Request, ctx: ContextDep, csrf_token: Csrf = "", fmt: Annotated[str, Form(alias="format")] = "csv",
    dashboard: FormField = "", subject: FormField = "", agency: FormField = "", purpose: FormField = "",
    decision: FormField = "", basis: FormField = "", action: FormField = "",
    since: Annotated[str, Form(alias="from")] = "", until: Annotated[str, Form(alias="to")] = "",
) -> Response:
    """The current filter as CSV or JSON; the export and its audit entry commit together."""
    form = FilterForm.parse({"subject": subject, "agency": agency, "purpose": purpose, "decision": decision,
                             "basis": basis, "action": action, "from": since, "to": until})
    board = DASHBOARDS.get(dashboard)
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        if not csrf_token_matches(staff.csrf_token, csrf_token):
            return _forbidden(staff)
        extra = board.condition(ctx.settings.policy_dir) if board else None
        now = ctx.clock.now()
        if fmt == "json":
            body, count = search.export_json(session, form.filter, extra=extra, meta={
                "exported_at": now.isoformat(), "exported_by": staff.username, "filters": form.filter.describe(),
                "subject": form.filter.subject_id, "dashboard": board.name if board else None})
            media, suffix = "application/json", "json"
        else:
            body, count = search.export_csv(session, form.filter, extra=extra)
            media, suffix = "text/csv; charset=utf-8", "csv"
        _log_access(session, staff, ctx, AuditTag.AUDIT_EXPORT,
                    subject_id=form.filter.subject_id if count and form.filter.subject_id else None,
                    details={"format": suffix, "filters": form.filter.describe(), "results": count,
                             "dashboard": board.name if board else None})
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    response = Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="audit-export-{stamp}.{suffix}"'})
    return apply_html_headers(response)


@router.post("/verify")
def verify_now(request: Request, ctx: ContextDep, csrf_token: Csrf = "") -> Response:
    with ctx.sessions() as session, session.begin():
        staff = _require(ctx, request, session)
        if isinstance(staff, Response):
            return staff
        if not csrf_token_matches(staff.csrf_token, csrf_token):
            return _forbidden(staff)
    started: datetime = ctx.clock.now()
    with ctx.sessions() as session:
        report = verify_database(session, signing_public_key(ctx.signing_seed), origin=ctx.settings.issuer)
    log_key = _log_key(ctx)
    with ctx.sessions() as session:
        # What the operator cannot forge: the configured witnesses' cosignatures on checkpoint notes
        # signed by the configured checkpoint key, and their roots being this log's.
        if log_key is None:
            report.add(Problem("no_checkpoint_key", "no checkpoint key is configured"))
        else:
            verify_witnessed(session, report, log_key=log_key, witnesses=ctx.witnesses(),
                             quorum=ctx.settings.witness_quorum)
    with ctx.sessions() as session, session.begin():
        record_verification(session, report, started=started, finished=ctx.clock.now(),
                            source=f"console:{staff.username}")
        record(session, AuditEvent(AuditTag.AUDIT_VERIFY, decision="allow" if report.ok else "deny",
                                   reason=None if report.ok else "verification_failed",
                                   details={"tree_size": report.tree_size, "problems": report.problem_count}),
               actor=staff.actor(), at=ctx.clock.now())
    return _redirect("/console?verified=1")
