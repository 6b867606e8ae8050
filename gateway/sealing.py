"""Seals, legal holds and court orders on a subject's data (digest 7.1), and erasure on request.

* **A seal** (``sealed``, ``vacated``, ``expunged``) names classes of a subject (empty: every class).
  From then on a plan (a referral, an information request's answer) that asks for a sealed class is
  refused, ``403 sealed_class_requires_court_order``, and audited, unless a court **access order**
  recorded for that recipient covers the classes ("cannot be seen or accessed without an order
  from the court", seed 001 line 12404). Every past recipient of the classes is told
  (:mod:`gateway.retention_broadcast`).
* **A legal hold** or a **court order** preserving the data blocks the subject's erasure
  (``409 legal_hold_active``) and the retention schedule for every record about the subject
  (:mod:`gateway.retention_purge` skips them) until it is lifted; then the schedule resumes and
  deletes what is past its period on its next run. A court order also refuses a seal of the
  classes it covers (``409 court_order_conflict``): the court needs them open.
* **Erasure on request** (:func:`erase`) tells every past recipient (an ``erased`` notice), then
  erases the subject (:func:`gateway.erasure.erase_subject`).

Refusals are audited as ``retention:request:refuse`` with the reason. The order's reference (a
docket code) stays in its row, never in the log. The caller owns the transaction, except that a
refusal is written on its own (:func:`gateway.audit.log.record_refusal`) before it is raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from consent.subjects import Subject
from kernel.ids import SHORT, new_id

from .audit import subject_keys
from .audit.log import Actor, AuditEvent, record, record_refusal
from .audit.tags import AuditTag
from .context import GatewayContext
from .erasure import Erasure, erase_subject
from .errors import Conflict, Forbidden, NotFound, Unprocessable
from .exchange.catalogue import field_classes
from .exchange.models import Envelope, EnvelopePart, EnvelopeStatus, Plan, PlanStatus
from .retention_broadcast import broadcast, recipients
from .retention_models import RetentionNotice, SubjectOrder
from .retention_schedule import load_schedule
from .statistics.service import StatisticsService

__all__ = ["ACCESS_ORDER", "HOLDS", "SEALS", "active_holds", "erase", "lift_order", "place_order", "refuse_sealed",
           "seal", "sealed_classes"]

SEALS = ("sealed", "vacated", "expunged")
HOLDS = ("legal_hold", "court_order")
ACCESS_ORDER = "access_order"


def _owned(session: Session, subject_id: str, agency_id: str) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None or subject.owner_agency_id != agency_id:
        raise NotFound("unknown_subject", "No such subject at your agency.")
    return subject


def _live(at: datetime) -> object:
    return (SubjectOrder.lifted_at.is_(None)) & or_(SubjectOrder.ends_at.is_(None), SubjectOrder.ends_at > at)


def _covers(order_classes: Iterable[str], classes: Iterable[str]) -> set[str]:
    """The classes of ``classes`` an order covers (an order naming no class covers every class)."""
    wanted, named = set(classes), set(order_classes)
    return wanted if not named else wanted & named


def active_holds(session: Session, at: datetime, subject_ids: Iterable[str] | None = None) -> list[SubjectOrder]:
    query = select(SubjectOrder).where(SubjectOrder.kind.in_(HOLDS), _live(at))  # type: ignore[arg-type]
    if subject_ids is not None:
        query = query.where(SubjectOrder.subject_id.in_(sorted(set(subject_ids)) or [""]))
    return list(session.scalars(query.order_by(SubjectOrder.created_at)))


def sealed_classes(session: Session, subject_id: str, at: datetime) -> tuple[set[str], bool]:
    """The sealed classes of a subject, and whether a seal covers every class."""
    named: set[str] = set()
    for order in session.scalars(select(SubjectOrder).where(SubjectOrder.subject_id == subject_id,
                                                            SubjectOrder.kind.in_(SEALS), _live(at))):  # type: ignore[arg-type]
        if not order.classes:
            return named, True
        named.update(order.classes)
    return named, False


def _refuse(ctx: GatewayContext, error: Exception, *, reason: str, subject_id: str | None, actor: Actor,
            classes: Iterable[str] = (), recipient: str | None = None, what: str) -> Exception:
    record_refusal(ctx.sessions, AuditEvent(AuditTag.RETENTION_REFUSE, decision="deny", reason=reason,
                                            subject_id=subject_id, recipient_agency_id=recipient,
                                            classes_requested=tuple(sorted(classes)), details={"request": what}),
                   actor=actor, at=ctx.clock.now())
    return error


def sealed_without_order(session: Session, subject_id: str, recipient_agency_id: str, classes: Iterable[str],
                         at: datetime) -> set[str]:
    """The classes asked for that are sealed for this subject and that no live court access order for
    this recipient opens (empty: nothing in the way)."""
    named, everything = sealed_classes(session, subject_id, at)
    asked = set(classes)
    hit = asked if everything else asked & named
    if hit:
        for order in session.scalars(select(SubjectOrder).where(
                SubjectOrder.subject_id == subject_id, SubjectOrder.kind == ACCESS_ORDER,
                SubjectOrder.recipient_agency_id == recipient_agency_id, _live(at))):  # type: ignore[arg-type]
            hit -= _covers(order.classes, hit)
    return hit


def refuse_sealed(session: Session, ctx: GatewayContext, *, agency_id: str, actor: Actor, subject_id: str,
                  recipient_agency_id: str, classes: Iterable[str]) -> None:
    """Raise ``403 sealed_class_requires_court_order`` (audited) when a plan asks for a sealed class of the
    caller's own subject and no live court access order for this recipient covers it; else nothing."""
    now = ctx.clock.now()
    with session.begin():
        subject = session.get(Subject, subject_id)
        if subject is None or subject.owner_agency_id != agency_id:
            return  # the plan itself answers for an unknown or foreign subject
        hit = sealed_without_order(session, subject_id, recipient_agency_id, classes, now)
        if not hit:
            return
    raise _refuse(ctx, Forbidden("sealed_class_requires_court_order",
                                 "A class asked for is sealed: it is shared only under a court order recorded "
                                 "for this recipient."),
                  reason="sealed_class_requires_court_order", subject_id=subject_id, actor=actor, classes=hit,
                  recipient=recipient_agency_id, what="plan")


REFERENCE_KEY = "subject-order-reference"
"""The at-rest key label of court-order references."""


def _sealed_reference(session: Session, ctx: GatewayContext, subject_id: str, order_id: str, reference: str,
                      now: datetime) -> str:
    """A docket reference names a court case, and a court case names a person: it is kept sealed at rest
    under the person's subject key too (erasure shreds it), never in clear where a dictionary of docket
    numbers could confirm who the order is about."""
    return ctx.at_rest().seal(REFERENCE_KEY, reference, where=order_id,
                              subject_key=subject_keys.text_key(session, subject_id, at=now))


@dataclass(frozen=True)
class Sealing:
    order: SubjectOrder
    notices: list[RetentionNotice]


def seal(session: Session, ctx: GatewayContext, *, agency_id: str, actor: Actor, subject_id: str, kind: str,
         classes: list[str], reference: str) -> Sealing:
    """Seal (vacate, expunge) classes of the caller's subject and tell every recipient of them."""
    if kind not in SEALS:
        raise Unprocessable("unknown_seal_kind", f"A seal is one of {', '.join(SEALS)}.")
    now = ctx.clock.now()
    with session.begin():
        _owned(session, subject_id, agency_id)
        blocking = [h for h in active_holds(session, now, [subject_id])
                    if h.kind == "court_order" and (not h.classes or not classes or set(h.classes) & set(classes))]
        if not blocking:
            order_id = new_id("sord", size=SHORT)
            order = SubjectOrder(id=order_id, subject_id=subject_id, agency_id=agency_id,
                                 kind=kind, classes=sorted(set(classes)),
                                 reference=_sealed_reference(session, ctx, subject_id, order_id, reference, now),
                                 created_at=now, created_by=actor.user)
            session.add(order)
            # A plan made before the seal must not carry the sealed classes out: every open plan of the
            # subject ends now (the sender plans again, and the seal decides).
            session.execute(update(Plan).where(Plan.subject_id == subject_id, Plan.status == PlanStatus.OPEN,
                                               Plan.expires_at > now).values(expires_at=now))
            wanted = set(classes)
            _withdraw_waiting(session, ctx, subject_id, wanted, now)
            told = [r for r in recipients(session, subject_id) if not wanted or r.classes & wanted]
            schedule = load_schedule(ctx.settings.policy_dir)
            notices = broadcast(session, signing_seed=ctx.signing_seed, action=kind, told=told,
                                classes=sorted(wanted) if wanted else None, subject_id=subject_id, actor=actor,
                                at=now, ack_days=schedule.ack_days)
            record(session, AuditEvent(AuditTag.SUBJECT_SEAL, decision="allow", reason=kind, subject_id=subject_id,
                                       classes_requested=tuple(sorted(wanted)),
                                       details={"told": sorted(n.agency_id for n in notices),
                                                "all_classes": not wanted}),
                   actor=actor, at=now)
            return Sealing(order=order, notices=notices)
    raise _refuse(ctx, Conflict("court_order_conflict", "A court order on this subject covers these classes; "
                                                        "they cannot be sealed while it stands."),
                  reason="court_order_conflict", subject_id=subject_id, actor=actor, classes=classes, what=kind)


def place_order(session: Session, ctx: GatewayContext, *, agency_id: str, actor: Actor, subject_id: str, kind: str,
                classes: list[str], reference: str, recipient_agency_id: str | None = None,
                days: int | None = None) -> SubjectOrder:
    """Record a legal hold, a court order preserving the data, or a court access order to sealed classes."""
    if kind not in (*HOLDS, ACCESS_ORDER):
        raise Unprocessable("unknown_order_kind", f"An order is one of {', '.join((*HOLDS, ACCESS_ORDER))}.")
    if (kind == ACCESS_ORDER) != (recipient_agency_id is not None):
        raise Unprocessable("access_order_names_one_recipient",
                            "An access order, and only an access order, names the recipient it opens "
                            "sealed classes to.")
    now = ctx.clock.now()
    with session.begin():
        _owned(session, subject_id, agency_id)
        order_id = new_id("sord", size=SHORT)
        order = SubjectOrder(id=order_id, subject_id=subject_id, agency_id=agency_id,
                             kind=kind, classes=sorted(set(classes)),
                             reference=_sealed_reference(session, ctx, subject_id, order_id, reference, now),
                             recipient_agency_id=recipient_agency_id, created_at=now, created_by=actor.user,
                             ends_at=now + timedelta(days=days) if days else None)
        session.add(order)
        record(session, AuditEvent(AuditTag.RETENTION_ORDER, decision="allow", reason=kind, subject_id=subject_id,
                                   recipient_agency_id=recipient_agency_id, classes_requested=tuple(order.classes),
                                   details={"order_id": order.id,
                                            "ends_at": order.ends_at.isoformat() if order.ends_at else None}),
               actor=actor, at=now)
        return order


def lift_order(session: Session, ctx: GatewayContext, *, agency_id: str, actor: Actor, order_id: str) -> SubjectOrder:
    """Lift a hold or order (not a seal); the retention schedule resumes on its next run."""
    now = ctx.clock.now()
    with session.begin():
        order = session.get(SubjectOrder, order_id)
        if order is None or order.agency_id != agency_id or order.kind in SEALS:
            raise NotFound("unknown_order", "No such order at your agency.")
        if order.lifted_at is None:
            order.lifted_at, order.lifted_by = now, actor.user
            record(session, AuditEvent(AuditTag.RETENTION_ORDER_LIFT, decision="allow", reason=order.kind,
                                       subject_id=order.subject_id, details={"order_id": order.id}),
                   actor=actor, at=now)
        return order


@dataclass(frozen=True)
class Erased:
    erasure: Erasure
    notices: list[RetentionNotice]


def _withdraw_waiting(session: Session, ctx: GatewayContext, subject_id: str, sealed: set[str], now: datetime) -> int:
    """Envelopes about the subject still waiting for their recipient (queued, or fetched but not yet
    acknowledged) that carry a sealed class are withdrawn: their ciphertext is deleted now, as an
    expiry would, so a referral sent before the seal does not arrive after it. Returns how many."""
    catalogue = field_classes(ctx.settings.policy_dir)
    withdrawn = 0
    for envelope in list(session.scalars(select(Envelope).where(
            Envelope.subject_id == subject_id,
            Envelope.status.in_((EnvelopeStatus.QUEUED, EnvelopeStatus.DELIVERED))).order_by(Envelope.id))):
        fields = [str(e.get("name")) for e in (envelope.manifest or {}).get("fields", []) if isinstance(e, dict)]
        carried = {catalogue.get(f, "unknown") for f in fields}
        if sealed and not carried & sealed:
            continue
        changed = session.execute(update(Envelope).where(
            Envelope.id == envelope.id, Envelope.status.in_((EnvelopeStatus.QUEUED, EnvelopeStatus.DELIVERED)))
            .values(status=EnvelopeStatus.EXPIRED, purged_at=now).execution_options(synchronize_session=False))
        if not changed.rowcount:  # type: ignore[attr-defined]
            continue  # acknowledged meanwhile: the notice covers it
        session.execute(delete(EnvelopePart).where(EnvelopePart.envelope_id == envelope.id))
        withdrawn += 1
        record(session, AuditEvent(AuditTag.EXCHANGE_EXPIRE, decision="info", reason="sealed_before_acknowledged",
                                   subject_id=subject_id, purpose=envelope.purpose,
                                   recipient_agency_id=envelope.recipient_agency_id,
                                   details={"envelope_id": envelope.id, "sender_agency_id": envelope.sender_agency_id}),
               actor=Actor.system(), at=now)
    return withdrawn


def erase(session: Session, ctx: GatewayContext, *, agency_id: str, actor: Actor, subject_id: str) -> Erased:
    """Erase the caller's subject on request: refused under a legal hold or court order; else every past
    recipient gets an ``erased`` notice (no subject on it), then the subject is erased and its key shredded."""
    now = ctx.clock.now()
    with session.begin():
        _owned(session, subject_id, agency_id)
        held = active_holds(session, now, [subject_id])
        lifted_by_self = session.scalar(select(SubjectOrder.id).where(
            SubjectOrder.subject_id == subject_id, SubjectOrder.kind.in_(HOLDS),
            SubjectOrder.lifted_by == actor.user).limit(1)) if actor.user else None
        if not held and lifted_by_self is None:
            schedule = load_schedule(ctx.settings.policy_dir)
            notices = broadcast(session, signing_seed=ctx.signing_seed, action="erased",
                                told=recipients(session, subject_id), classes=None, subject_id=None, actor=actor,
                                at=now, ack_days=schedule.ack_days)
            done = erase_subject(session, subject_id, actor=actor, at=now, units=StatisticsService(ctx).units)
            return Erased(erasure=done, notices=notices)
        reason = ("court_order_conflict" if any(h.kind == "court_order" for h in held) else
                  "legal_hold_active" if held else "hold_lifted_by_same_person")
    if reason == "hold_lifted_by_same_person":
        raise _refuse(ctx, Conflict(reason, "You lifted a legal hold or court order on this subject: another "
                                            "person must erase it (four eyes)."),
                      reason=reason, subject_id=subject_id, actor=actor, what="erase")
    raise _refuse(ctx, Conflict(reason, "A legal hold or court order on this subject preserves its data; it "
                                        "cannot be erased until the hold is lifted."),
                  reason=reason, subject_id=subject_id, actor=actor, what="erase")
