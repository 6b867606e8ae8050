"""``/v1/consents``: record, read, amend, withdraw consents; receipts and the person's card.

Routes only translate HTTP: every rule lives in ``consent``. A refused consent is audited
in a transaction of its own and nothing else is stored (CR3: a bundle is answered with a
``split``, one draft per purpose, each to be confirmed on its own).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse

from consent import (
    AuditAction,
    ChildViews,
    ConsentDraft,
    ConsentRecord,
    ConsentService,
    GuardianConsent,
    Interpreter,
    RecipientClaim,
    RefusedError,
    Subject,
    record_refusal,
    verify_access_code,
)
from consent.vocabulary import Purpose

from .. import i18n
from ..auth.permission import Permission
from ..deps import Caller, ContextDep, SessionDep, person_token, require_person, require_scope
from ..errors import NotFound, Unprocessable
from ..staff.roles import Entitlement
from .adapters import GatewayAuditSink, actor_of, consent_errors, consent_service, proven_staff, secret_hasher
from .card import CARD_CSP, CardRecipient, render_card
from .schemas import (
    ConsentCreate,
    ConsentCreated,
    ConsentHistoryOut,
    ConsentOut,
    NoticeOut,
    ReceiptOut,
    WithdrawalOut,
    WithdrawIn,
)

router = APIRouter(prefix="/v1", tags=["consents"])
ConsentWriter = Annotated[Caller, Depends(require_scope(Permission.CONSENTS_WRITE))]
#: Recording or withdrawing a consent names the staff member with the person: the signed-in person.
ConsentRecorder = Annotated[Caller, Depends(require_person(Permission.CONSENTS_WRITE, Entitlement.RECORD_FOR_PERSON))]
RECORDED_BY_PERSON = person_token(Entitlement.RECORD_FOR_PERSON)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def card_url(consent_id: str) -> str:
    return f"/v1/consents/{consent_id}/card"


def _draft(body: ConsentCreate, now: datetime, caller: Caller) -> ConsentDraft:
    views = body.child_views if body.child_views is not None and body.child_views.recorded else None
    staff_id, staff_role = proven_staff(caller)
    views_by = staff_id if views is not None else ""
    return ConsentDraft(
        subject_id=body.subject_id,
        purposes=tuple(body.all_purposes()),
        recipients=tuple(RecipientClaim(r.agency_id, r.country, r.organisation) for r in body.recipients),
        scope=body.scope,
        data_classes=tuple(body.data_classes),
        explained_items=frozenset(body.explained_items),
        notice_version=body.notice_version,
        language=body.language,
        channel=body.channel,
        capacity=body.capacity,
        obtained_by=staff_id,
        obtained_by_role=staff_role,
        obtained_at=body.obtained_at or now,
        expires_at=body.expires_at,
        interpreter=None if body.interpreter is None else Interpreter(
            body.interpreter.interpreter_id, body.interpreter.relationship, body.interpreter.vetted),
        guardian_consent=None if body.guardian_consent is None else GuardianConsent(
            body.guardian_consent.guardian_id, body.guardian_consent.given_at),
        child_views=None if views is None else ChildViews(views_by, views.recorded_at, views.reference),
        cj_option=body.cj_option,
        duty_to_share_acknowledged=frozenset(str(d) for d in body.duty_to_share_acknowledged),
        supersedes=body.supersedes,
    )


def _split(body: ConsentCreate) -> list[dict[str, Any]]:
    """CR3: one draft per purpose, to be reviewed with the person and confirmed one by one."""
    base = body.model_dump(mode="json", exclude={"purposes", "purpose"}, exclude_none=True)
    drafts = []
    for purpose in body.all_purposes():
        draft = {**base, "purpose": str(purpose)}
        if purpose != Purpose.CRIMINAL_JUSTICE:
            draft.pop("cj_option", None)
        drafts.append(draft)
    return drafts


def _out(svc: ConsentService, record: ConsentRecord) -> ConsentOut:
    ending = svc.ending_of(record.id)
    names = {r.agency_id: (a.name if (a := svc.directory.get(r.agency_id)) else r.agency_id)
             for r in record.recipients}
    return ConsentOut.of(record, status=svc.status(record), ending=ending, names=names)


@router.post("/consents", response_model=ConsentCreated, status_code=201, openapi_extra=RECORDED_BY_PERSON)
def create_consent(body: ConsentCreate, caller: ConsentRecorder, ctx: ContextDep, session: SessionDep,
                   request: Request) -> ConsentCreated:
    """Record one consent (or, with ``supersedes``, an amendment) with the person present.

    Answers 201 with the record, its signed receipt, the card URL, and the portal access
    code when this is the subject's first card or a reissue (shown once, never again).
    """
    actor = actor_of(caller, proven_staff(caller)[0])
    now = ctx.clock.now()
    with consent_errors():
        try:
            with session.begin():
                svc = consent_service(ctx, session, _request_id(request))
                result = svc.grant(_draft(body, now, caller), agency_id=caller.agency_id, actor=actor,
                                   reissue_access_code=body.reissue_access_code)
                return ConsentCreated(
                    consent=_out(svc, result.record), receipt_id=result.receipt.id, receipt=result.receipt.jws,
                    card_url=card_url(result.record.id), access_code=result.access.code,
                    access_code_status=result.access.status,
                    superseded=result.superseded.id if result.superseded else None,
                )
        except RefusedError as exc:
            purposes = body.all_purposes()
            record_refusal(ctx.sessions, GatewayAuditSink(ctx.clock, _request_id(request)),
                           action=AuditAction.CONSENT_REFUSE, reasons=[f.reason for f in exc.failures], actor=actor,
                           subject_id=body.subject_id, purpose=str(purposes[0]) if len(purposes) == 1 else None,
                           details={"purposes": [str(p) for p in purposes]})
            extra: dict[str, Any] = {"failures": [f.as_dict() for f in exc.failures]}
            if len(purposes) > 1:
                extra["split"] = _split(body)
            raise Unprocessable(exc.reason, exc.detail, extra=extra) from None


@router.get("/consents/{consent_id}", response_model=ConsentOut)
def show_consent(consent_id: str, caller: ConsentWriter, ctx: ContextDep, session: SessionDep) -> ConsentOut:
    with consent_errors():
        svc = consent_service(ctx, session)
        return _out(svc, svc.get(consent_id, agency_id=caller.agency_id))


@router.get("/consents/{consent_id}/history", response_model=ConsentHistoryOut)
def consent_history(consent_id: str, caller: ConsentWriter, ctx: ContextDep,
                    session: SessionDep) -> ConsentHistoryOut:
    """Every version of this consent (amendments supersede, nothing is overwritten) and every receipt."""
    with consent_errors():
        svc = consent_service(ctx, session)
        versions, receipts = svc.history(consent_id, agency_id=caller.agency_id)
        return ConsentHistoryOut(
            lineage_id=versions[0].lineage_id,
            versions=[_out(svc, v) for v in versions],
            receipts=[ReceiptOut(id=r.id, consent_id=r.consent_id, kind=r.kind, issued_at=r.issued_at, receipt=r.jws)
                      for r in receipts],
        )


@router.post("/consents/{consent_id}/withdraw", response_model=WithdrawalOut, openapi_extra=RECORDED_BY_PERSON)
def withdraw_consent(consent_id: str, body: WithdrawIn, caller: ConsentRecorder, ctx: ContextDep,
                     session: SessionDep, request: Request) -> WithdrawalOut:
    """Withdraw in one step; effective for the very next decision (CR14). The answer carries
    the notices the person must see (CR15 open cases, CR16 nothing else changes)."""
    with consent_errors(), session.begin():
        svc = consent_service(ctx, session, _request_id(request))
        result = svc.withdraw(consent_id, actor=actor_of(caller, proven_staff(caller)[0]), channel=body.channel,
                              agency_id=caller.agency_id)
        return WithdrawalOut(
            consent=_out(svc, result.record), receipt_id=result.receipt.id, receipt=result.receipt.jws,
            card_url=card_url(result.record.id),
            notices=[NoticeOut(kind=n.kind, rule=n.rule, details=n.details) for n in result.notices],
        )


@router.get("/subjects/{subject_id}/consents", response_model=list[ConsentOut])
def list_subject_consents(
    subject_id: str,
    caller: ConsentWriter,
    ctx: ContextDep,
    session: SessionDep,
    in_force: bool | None = None,
    purpose: Purpose | None = None,
    recipient: Annotated[str | None, Query(max_length=64)] = None,
) -> list[ConsentOut]:
    """The subject's consents; ``in_force=true`` gives exactly those in force now (no cache)."""
    with consent_errors():
        svc = consent_service(ctx, session)
        records = svc.list_for_subject(subject_id, agency_id=caller.agency_id, in_force=in_force,
                                       purpose=str(purpose) if purpose else None, recipient_agency_id=recipient)
        return [_out(svc, r) for r in records]


@router.get("/consents/{consent_id}/card", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}}})
def consent_card(
    consent_id: str,
    caller: ConsentWriter,
    ctx: ContextDep,
    session: SessionDep,
    lang: Annotated[str | None, Query(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")] = None,
    portal_access_code: Annotated[str | None, Header(max_length=40)] = None,
    layout: Annotated[Literal["together", "separate"], Query(
        description="The person's choice: `separate` prints the access code on a page of its own, to "
                    "be kept apart from the list of recipients (whoever finds one does not have both).",
    )] = "together",
) -> HTMLResponse:
    """The person's printable card in their language (``lang`` overrides the preferred one).

    The access code is never stored in clear, so a card shows it only when the advocate
    passes the code just issued in the ``Portal-Access-Code`` header; otherwise the card
    tells the person to keep using the code they have.
    """
    with consent_errors():
        svc = consent_service(ctx, session)
        record = svc.get(consent_id, agency_id=caller.agency_id)
        person = svc.session.get(Subject, record.subject_id)
        if person is None:  # pragma: no cover - a record's subject always exists (foreign key)
            raise NotFound("unknown_consent")
        shown_code = None
        if portal_access_code:
            if verify_access_code(session, portal_access_code, hasher=secret_hasher(ctx)) != record.subject_id:
                raise Unprocessable("access_code_invalid", "That is not this person's current access code.")
            shown_code = portal_access_code.strip().upper()
        chosen = i18n.negotiate(lang, person.preferred_language)
        recipients = [
            CardRecipient(r.agency_id, (a.name if (a := svc.directory.get(r.agency_id)) else r.agency_id), r.country)
            for r in record.recipients
        ]
        html = render_card(record, status=svc.status(record), ending=svc.ending_of(record.id),
                           recipients=recipients, lang=chosen, portal_url=svc.signer.portal_url,
                           access_code=shown_code, now=ctx.clock.now(), separate=layout == "separate")
    return HTMLResponse(html, headers={"content-security-policy": CARD_CSP, "content-language": chosen})
