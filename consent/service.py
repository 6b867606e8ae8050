"""The consent lifecycle: grant, amend (supersede), withdraw, expire, and the in-force lookup.

Append-only: a grant inserts a record and its recipients; an amendment inserts a new record
and an ending (``superseded``) for the old one; a withdrawal inserts an ending
(``withdrawn``); an observed expiry inserts an ending (``expired``). Nothing on a consent
table is ever updated or deleted. Each effect writes its audit entry in the same
transaction, through the :class:`~consent.audit.AuditSink` the gateway passes in.

There is no cache anywhere: every lookup is a query against the current state, so a
withdrawal takes effect for the very next decision (CR14, CR33). The service never
commits; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, exists, select
from sqlalchemy.orm import Session

from crypto.passwords import SecretHasher
from kernel.ids import new_id

from .age import is_child
from .audit import Actor, AuditAction, AuditSink
from .clock import Clock
from .directory import AgencyDirectory
from .errors import ConflictError, Failure, NotFoundError, RefusedError
from .models import ConsentEnding, ConsentReceipt, ConsentRecipient, ConsentRecord
from .notices import notify_person
from .policy_view import fragments_from_rows
from .portal_access import IssuedCode, ensure_access_code
from .receipts import ReceiptSigner, issue_receipt
from .rules import ConsentDraft, ValidationContext, needs_confirmation, split_bundle, validate
from .subjects import Subject, coarse_language, has_mandated_notice
from .vocabulary import ActorKind, Channel, EndingKind, NoticeKind, Purpose

__all__ = [
    "IN_FORCE_ROWS",
    "ConsentService",
    "GrantResult",
    "PersonNoticeView",
    "WithdrawalResult",
    "consent_documents_in_force",
    "consent_statuses",
    "consents_in_force",
    "get_subject_for_agency",
    "in_force_ids_query",
    "status_at",
]


def in_force_ids_query(subject_id: str, purpose: str, recipient_agency_id: str, at: datetime) -> Select[str]:
    """The one query that decides "in force for (subject, purpose, recipient) at ``at``".

    An index range scan on ``ix_consent_recipients_lookup`` (a handful of rows per
    subject, purpose and recipient, however many records exist), a primary-key probe into
    ``consent_records`` and a unique-index probe into ``consent_endings`` per row.
    """
    ended = exists().where(ConsentEnding.consent_id == ConsentRecipient.consent_id)
    return (
        select(ConsentRecord.id)
        .join(ConsentRecipient, ConsentRecipient.consent_id == ConsentRecord.id)
        .where(
            ConsentRecipient.subject_id == subject_id,
            ConsentRecipient.purpose == purpose,
            ConsentRecipient.agency_id == recipient_agency_id,
            ConsentRecord.obtained_at <= at,
            ConsentRecord.expires_at > at,
            ~ended,
        )
        .order_by(ConsentRecord.obtained_at.desc(), ConsentRecord.id)
    )


def status_at(record: ConsentRecord, ending: ConsentEnding | None, at: datetime) -> str:
    """in_force | withdrawn | superseded | expired | not_yet_in_force."""
    if ending is not None:
        return ending.kind
    if record.expires_at <= at:
        return str(EndingKind.EXPIRED)
    if record.obtained_at > at:
        return "not_yet_in_force"
    return "in_force"


def _live(at: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    ended = exists().where(ConsentEnding.consent_id == ConsentRecord.id)
    return (ConsentRecord.obtained_at <= at) & (ConsentRecord.expires_at > at) & ~ended


# The policy input's consents in one statement (built once): what a fragment reads of each record
# in force, one row per named recipient, in the order of consents_in_force. Faster than loading
# ConsentRecord objects with their recipients (two statements and an object per row), and the
# same rows: tests/consent/test_policy_view.py checks that both give identical fragments.
_IN_FORCE_AT: BindParameter[datetime] = bindparam("at")
IN_FORCE_ROWS = (
    select(ConsentRecord.id, ConsentRecord.subject_id, ConsentRecord.purpose, ConsentRecord.scope,
           ConsentRecord.data_classes, ConsentRecord.cj_option, ConsentRecord.expires_at, ConsentRecord.guardian_id,
           ConsentRecord.child_views_recorded_at, ConsentRecord.recorded_for_child,
           ConsentRecipient.agency_id, ConsentRecipient.country)
    .outerjoin(ConsentRecipient, ConsentRecipient.consent_id == ConsentRecord.id)
    .where(ConsentRecord.subject_id == bindparam("subject_id"), _live(_IN_FORCE_AT))
    .order_by(ConsentRecord.purpose, ConsentRecord.obtained_at, ConsentRecord.id, ConsentRecipient.agency_id)
)


def consent_documents_in_force(session: Session, subject_id: str, *, at: datetime) -> list[dict[str, Any]]:
    """The policy input's ``consents``: a fragment of every record in force for the subject at ``at``."""
    return fragments_from_rows(session.execute(IN_FORCE_ROWS, {"subject_id": subject_id, "at": at}))


def consents_in_force(session: Session, subject_id: str, *, at: datetime) -> list[ConsentRecord]:
    """Every record in force for the subject at ``at``, whatever the purpose (the policy input)."""
    return list(session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.subject_id == subject_id, _live(at))
        .order_by(ConsentRecord.purpose, ConsentRecord.obtained_at, ConsentRecord.id)
    ))


def consent_statuses(session: Session, consent_ids: list[str], *, at: datetime) -> dict[str, str]:
    """``in_force``, ``withdrawn``, ``superseded``, ``expired``, ``not_yet_in_force`` or ``unknown`` per id."""
    ids = list(dict.fromkeys(consent_ids))
    if not ids:
        return {}
    records = {r.id: r for r in session.scalars(select(ConsentRecord).where(ConsentRecord.id.in_(ids)))}
    endings = {e.consent_id: e for e in session.scalars(select(ConsentEnding).where(ConsentEnding.consent_id.in_(ids)))}
    return {i: status_at(records[i], endings.get(i), at) if i in records else "unknown" for i in ids}


def get_subject_for_agency(session: Session, subject_id: str, agency_id: str) -> Subject | None:
    """The subject if ``agency_id`` owns it, else None (absent and not-yours look the same)."""
    subject = session.get(Subject, subject_id)
    if subject is None or subject.owner_agency_id != agency_id:
        return None
    return subject


@dataclass(frozen=True)
class PersonNoticeView:
    """A notice the person must see now, returned with a withdrawal."""

    kind: str
    rule: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GrantResult:
    """A recorded consent, its receipt, the access-code outcome and what it superseded."""

    record: ConsentRecord
    receipt: ConsentReceipt
    access: IssuedCode
    superseded: ConsentRecord | None = None


@dataclass(frozen=True)
class WithdrawalResult:
    """A withdrawn record, its ending, the withdrawal receipt and the notices to show."""

    record: ConsentRecord
    ending: ConsentEnding
    receipt: ConsentReceipt
    notices: tuple[PersonNoticeView, ...]



class ConsentService:
    """Consent operations on one session. Construct per unit of work; never commits."""

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        audit: AuditSink,
        directory: AgencyDirectory,
        signer: ReceiptSigner,
        hasher: SecretHasher,
    ) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit
        self.directory = directory
        self.signer = signer
        self.hasher = hasher

    # ------------------------------------------------------------ reads

    def in_force_ids(self, subject_id: str, purpose: str, recipient_agency_id: str,
                     at: datetime | None = None) -> list[str]:
        """Ids of the records in force for (subject, purpose, recipient) now (or at ``at``)."""
        moment = at or self.clock.now()
        return list(self.session.scalars(in_force_ids_query(subject_id, purpose, recipient_agency_id, moment)))

    def in_force(self, subject_id: str, purpose: str, recipient_agency_id: str,
                 at: datetime | None = None) -> list[ConsentRecord]:
        """The records in force for (subject, purpose, recipient), newest first."""
        ids = self.in_force_ids(subject_id, purpose, recipient_agency_id, at)
        return self._records(ids)

    def in_force_for_subject(self, subject_id: str, at: datetime | None = None) -> list[ConsentRecord]:
        """Every record in force for the subject, whatever the purpose (the policy input)."""
        return consents_in_force(self.session, subject_id, at=at or self.clock.now())

    def _records(self, ids: list[str]) -> list[ConsentRecord]:
        if not ids:
            return []
        rows = {r.id: r for r in self.session.scalars(select(ConsentRecord).where(ConsentRecord.id.in_(ids)))}
        return [rows[i] for i in ids if i in rows]

    def _owned_subject(self, subject_id: str, agency_id: str, *, lock: bool = False) -> Subject:
        subject = self.session.get(Subject, subject_id, with_for_update=lock)
        if subject is None or subject.owner_agency_id != agency_id:
            raise NotFoundError("unknown_subject")
        return subject

    def get(self, consent_id: str, *, agency_id: str) -> ConsentRecord:
        """The record if ``agency_id`` owns its subject; the same NotFoundError otherwise."""
        record = self.session.get(ConsentRecord, consent_id)
        if record is None:
            raise NotFoundError("unknown_consent")
        subject = self.session.get(Subject, record.subject_id)
        if subject is None or subject.owner_agency_id != agency_id:
            raise NotFoundError("unknown_consent")
        return record

    def ending_of(self, consent_id: str) -> ConsentEnding | None:
        """Read from the database now (never from an object loaded earlier)."""
        return self.session.scalar(select(ConsentEnding).where(ConsentEnding.consent_id == consent_id))

    def endings_for(self, consent_ids: list[str]) -> dict[str, ConsentEnding]:
        """The endings of these records, by consent id (read now)."""
        if not consent_ids:
            return {}
        rows = self.session.scalars(select(ConsentEnding).where(ConsentEnding.consent_id.in_(consent_ids)))
        return {e.consent_id: e for e in rows}

    def status(self, record: ConsentRecord, at: datetime | None = None) -> str:
        """The record's status now (or at ``at``), from its ending read now."""
        return status_at(record, self.ending_of(record.id), at or self.clock.now())

    def history(self, consent_id: str, *, agency_id: str) -> tuple[list[ConsentRecord], list[ConsentReceipt]]:
        """Every version of the record's lineage, oldest first, and all their receipts."""
        record = self.get(consent_id, agency_id=agency_id)
        versions = list(self.session.scalars(
            select(ConsentRecord).where(ConsentRecord.lineage_id == record.lineage_id).order_by(ConsentRecord.version)
        ))
        version_of = {v.id: v.version for v in versions}
        receipts = sorted(
            self.session.scalars(select(ConsentReceipt).where(ConsentReceipt.consent_id.in_(list(version_of)))),
            key=lambda r: (r.issued_at, version_of[r.consent_id], r.kind != "grant", r.id),
        )
        return versions, receipts

    def list_for_subject(
        self,
        subject_id: str,
        *,
        agency_id: str,
        in_force: bool | None = None,
        purpose: str | None = None,
        recipient_agency_id: str | None = None,
    ) -> list[ConsentRecord]:
        """The subject's records (owner only), filtered; ``in_force`` uses the same test as lookups."""
        self._owned_subject(subject_id, agency_id)
        now = self.clock.now()
        query = select(ConsentRecord).where(ConsentRecord.subject_id == subject_id)
        if purpose is not None:
            query = query.where(ConsentRecord.purpose == purpose)
        if recipient_agency_id is not None:
            query = query.where(exists().where(ConsentRecipient.consent_id == ConsentRecord.id,
                                               ConsentRecipient.agency_id == recipient_agency_id))
        live = _live(now)
        if in_force is True:
            query = query.where(live)
        elif in_force is False:
            query = query.where(~live)
        return list(self.session.scalars(query.order_by(ConsentRecord.recorded_at, ConsentRecord.id)))

    # ------------------------------------------------------------ grant

    def grant(self, draft: ConsentDraft, *, agency_id: str, actor: Actor,
              reissue_access_code: bool = False) -> GrantResult:
        """Record a consent (or an amendment of ``draft.supersedes``) after every rule passed.

        Raises :class:`RefusedError` listing every failed rule (with a ``split`` offer for a
        bundle), :class:`NotFoundError` for a subject or record that is not the caller's,
        and :class:`ConflictError` when the superseded record is no longer in force.
        """
        now = self.clock.now()
        subject = self._owned_subject(draft.subject_id, agency_id, lock=True)
        recording = self.directory.get(agency_id)
        if recording is None:
            raise NotFoundError("unknown_agency")
        old = self._superseded(draft, agency_id, now)
        context = ValidationContext(
            subject=subject,
            recording_agency=recording,
            recipients={c.agency_id: self.directory.get(c.agency_id) for c in draft.recipients},
            mandated_notice_given=(not recording.mandated_reporter)
            or has_mandated_notice(self.session, subject.id, agency_id, draft.obtained_at),
            now=now,
        )
        failures = list(validate(draft, context))
        if old is not None and len(draft.purposes) == 1 and old.purpose != draft.purpose:
            failures.append(Failure("supersede_purpose_mismatch", "CR2", "purpose"))
        if failures:
            split = split_bundle(draft) if len(set(draft.purposes)) > 1 else []
            raise RefusedError(failures, extra={"split": split})
        self.record_expiries(subject_id=subject.id)

        purpose = draft.purpose
        record = ConsentRecord(
            id=new_id("cns"),
            lineage_id=old.lineage_id if old else "",
            version=old.version + 1 if old else 1,
            supersedes_id=old.id if old else None,
            subject_id=subject.id,
            purpose=str(purpose),
            scope=str(draft.scope),
            data_classes=sorted(set(draft.data_classes), key=lambda c: int(c[1:])),
            explained_items=sorted(str(i) for i in draft.explained_items),
            notice_version=draft.notice_version or "",
            language=coarse_language(draft.language),  # issue 17: no region or dialect kept
            interpreter_id=draft.interpreter.interpreter_id if draft.interpreter else None,
            interpreter_relationship=str(draft.interpreter.relationship) if draft.interpreter else None,
            interpreter_vetted=draft.interpreter.vetted if draft.interpreter else None,
            channel=str(draft.channel),
            needs_confirmation=needs_confirmation(purpose, draft.channel),
            capacity=str(draft.capacity),
            obtained_by=draft.obtained_by,
            obtained_by_role=draft.obtained_by_role,
            obtaining_agency_id=agency_id,
            obtained_at=draft.obtained_at,
            expires_at=draft.expires_at,
            recorded_at=now,
            recorded_for_child=is_child(subject, draft.obtained_at),
            guardian_id=draft.guardian_consent.guardian_id if draft.guardian_consent else None,
            guardian_consent_given_at=draft.guardian_consent.given_at if draft.guardian_consent else None,
            child_views_recorded_by=draft.child_views.recorded_by if draft.child_views else None,
            child_views_recorded_at=draft.child_views.recorded_at if draft.child_views else None,
            child_views_reference=draft.child_views.reference if draft.child_views else None,
            cj_option=str(draft.cj_option) if draft.cj_option else None,
            duty_to_share_acknowledged=sorted(draft.duty_to_share_acknowledged),
        )
        if not record.lineage_id:
            record.lineage_id = record.id
        self.session.add(record)
        self.session.flush()
        for claim in sorted(draft.recipients, key=lambda c: c.agency_id):
            self.session.add(ConsentRecipient(
                consent_id=record.id, agency_id=claim.agency_id, subject_id=subject.id, purpose=str(purpose),
                country=claim.country.upper() if claim.country else None, organisation=claim.organisation,
            ))
        if old is not None:
            self.session.add(ConsentEnding(
                id=new_id("end"), consent_id=old.id, kind=str(EndingKind.SUPERSEDED), at=now,
                by_kind=str(actor.kind), by_agency_id=actor.agency_id, by_user=actor.user,
                channel=str(draft.channel), superseded_by_id=record.id,
            ))
        self.session.flush()
        self.session.refresh(record)

        recipients = record.recipient_ids
        added = sorted(set(recipients) - set(old.recipient_ids)) if old else []
        if added:
            # CR32: a new recipient has a consent only now that one names it; tell the person.
            notify_person(self.session, subject.id, NoticeKind.RECIPIENT_ADDED, now=now,
                          details={"consent_id": record.id, "purpose": record.purpose, "recipients": added})
        notify_person(self.session, subject.id, NoticeKind.CONSENT_GRANTED, now=now,
                      details={"consent_id": record.id, "purpose": record.purpose})
        receipt = issue_receipt(self.session, record, kind="grant", signer=self.signer, directory=self.directory,
                                now=now)
        access = ensure_access_code(self.session, subject.id, hasher=self.hasher, now=now,
                                    reissue=reissue_access_code, audit=self.audit, actor=actor)
        if old is not None:
            self.audit.record(
                self.session, action=AuditAction.CONSENT_SUPERSEDE, decision="info", reason=None,
                subject_id=subject.id, purpose=old.purpose, recipient_agency_id=None, classes=old.data_classes,
                basis={}, details={"consent_id": old.id, "superseded_by": record.id}, actor=actor,
            )
        self.audit.record(
            self.session, action=AuditAction.CONSENT_GRANT, decision="allow", reason=None, subject_id=subject.id,
            purpose=record.purpose, recipient_agency_id=recipients[0] if len(recipients) == 1 else None,
            classes=record.data_classes, basis={"consent_id": record.id},
            details={"consent_id": record.id, "version": record.version, "supersedes": record.supersedes_id,
                     "recipients": recipients, "scope": record.scope, "channel": record.channel,
                     "needs_confirmation": record.needs_confirmation, "receipt_id": receipt.id,
                     "expires_at": record.expires_at.isoformat()},
            actor=actor,
        )
        return GrantResult(record=record, receipt=receipt, access=access, superseded=old)

    def _superseded(self, draft: ConsentDraft, agency_id: str, now: datetime) -> ConsentRecord | None:
        if draft.supersedes is None:
            return None
        old = self.get(draft.supersedes, agency_id=agency_id)
        if old.subject_id != draft.subject_id:
            raise NotFoundError("unknown_consent")
        state = self.status(old, now)
        if state != "in_force":
            raise ConflictError(f"consent_{state}", "Only a consent in force can be amended; record a new one.")
        return old

    # ------------------------------------------------------------ withdraw

    def withdraw(
        self,
        consent_id: str,
        *,
        actor: Actor,
        channel: Channel,
        agency_id: str | None = None,
        subject_id: str | None = None,
    ) -> WithdrawalResult:
        """Withdraw in one step, effective for the very next decision (CR14).

        The owner agency (the advocate) passes ``agency_id``; the person, through the
        portal, passes the ``subject_id`` their session proved. Anything else is NotFound.
        """
        now = self.clock.now()
        record = self.session.get(ConsentRecord, consent_id)
        if record is None:
            raise NotFoundError("unknown_consent")
        if actor.kind == ActorKind.PERSON:
            if subject_id is None or record.subject_id != subject_id:
                raise NotFoundError("unknown_consent")
            subject = self.session.get(Subject, record.subject_id, with_for_update=True)
            if subject is None:
                raise NotFoundError("unknown_consent")
        else:
            if agency_id is None:
                raise NotFoundError("unknown_consent")
            try:
                subject = self._owned_subject(record.subject_id, agency_id, lock=True)
            except NotFoundError:
                raise NotFoundError("unknown_consent") from None
        state = self.status(record, now)
        if state in (EndingKind.WITHDRAWN, EndingKind.SUPERSEDED):
            raise ConflictError(f"consent_{state}", f"This consent has already been {state}.")
        if state == EndingKind.EXPIRED:
            raise ConflictError("consent_expired", "This consent has expired: nothing is shared under it.")
        ending = ConsentEnding(
            id=new_id("end"), consent_id=record.id, kind=str(EndingKind.WITHDRAWN), at=now,
            by_kind=str(actor.kind), by_agency_id=actor.agency_id, by_user=actor.user, channel=str(channel),
        )
        self.session.add(ending)
        self.session.flush()

        notices = self._withdrawal_notices(record, subject)
        notify_person(self.session, subject.id, NoticeKind.CONSENT_WITHDRAWN, now=now,
                      details={"consent_id": record.id, "purpose": record.purpose,
                               "notices": [n.kind for n in notices]})
        for notice in notices:
            if notice.kind == NoticeKind.INVESTIGATION_MAY_CONTINUE:
                holders = [r["agency_id"] for r in notice.details["open_case_recipients"]]
                notify_person(self.session, subject.id, NoticeKind.INVESTIGATION_MAY_CONTINUE, now=now,
                              details={"consent_id": record.id, "open_case_recipients": holders})
        receipt = issue_receipt(self.session, record, kind="withdrawal", signer=self.signer,
                                directory=self.directory, now=now, withdrawn_at=now)
        self.audit.record(
            self.session, action=AuditAction.CONSENT_WITHDRAW, decision="info", reason=None,
            subject_id=subject.id, purpose=record.purpose, recipient_agency_id=None, classes=record.data_classes,
            basis={"consent_id": record.id},
            details={"consent_id": record.id, "channel": str(channel), "by": str(actor.kind),
                     "recipients": record.recipient_ids, "receipt_id": receipt.id,
                     "notices": [n.kind for n in notices]},
            actor=actor,
        )
        return WithdrawalResult(record=record, ending=ending, receipt=receipt, notices=tuple(notices))

    def _withdrawal_notices(self, record: ConsentRecord, subject: Subject) -> list[PersonNoticeView]:
        notices = [PersonNoticeView("withdrawal_effective", "CR14",
                                    {"purpose": record.purpose, "recipients": record.recipient_ids})]
        holding = sorted({c["recipient_agency_id"] for c in subject.open_cases} & set(record.recipient_ids))
        if holding:
            # CR15: data already lodged in an open criminal case is not recalled.
            notices.append(PersonNoticeView("investigation_may_continue", "CR15", {
                "open_case_recipients": [
                    {"agency_id": a, "name": (info.name if (info := self.directory.get(a)) else a)} for a in holding
                ],
            }))
        if record.purpose == Purpose.CRIMINAL_JUSTICE:
            # CR16, CR17: stopping co-operation changes no service, placement or status.
            notices.append(PersonNoticeView("services_unchanged", "CR16", {}))
        return notices

    # ------------------------------------------------------------ expiry

    def record_expiries(self, *, subject_id: str | None = None, limit: int = 1000) -> list[ConsentEnding]:
        """Observe expiries: an ``expired`` ending and an audit entry per newly expired record.

        Expired records count as absent whether or not this ran; it makes the expiry
        visible in the record's history and the audit log. Call it from a scheduler
        (all subjects) or before changing a subject's consents.
        """
        now = self.clock.now()
        ended = exists().where(ConsentEnding.consent_id == ConsentRecord.id)
        query = select(ConsentRecord).where(ConsentRecord.expires_at <= now, ~ended)
        if subject_id is not None:
            query = query.where(ConsentRecord.subject_id == subject_id)
        endings = []
        for record in self.session.scalars(query.order_by(ConsentRecord.expires_at).limit(limit)).all():
            ending = ConsentEnding(id=new_id("end"), consent_id=record.id, kind=str(EndingKind.EXPIRED),
                                   at=record.expires_at, by_kind=str(ActorKind.SYSTEM))
            self.session.add(ending)
            notify_person(self.session, record.subject_id, NoticeKind.CONSENT_EXPIRED, now=now,
                          details={"consent_id": record.id, "purpose": record.purpose})
            self.audit.record(
                self.session, action=AuditAction.CONSENT_EXPIRE, decision="info", reason=None,
                subject_id=record.subject_id, purpose=record.purpose, recipient_agency_id=None,
                classes=record.data_classes, basis={"consent_id": record.id},
                details={"consent_id": record.id, "expired_at": record.expires_at.isoformat()},
                actor=Actor.system(),
            )
            endings.append(ending)
        self.session.flush()
        return endings
