"""Record linkage at the gateway: epochs, enrolment, the question "who else may know this person?".

Promises kept here:

- the gateway stores linkage keys only (no identifier; the secret that made them never
  reaches it), one per (agency, own subject), and only for a subject with a consent in force
  for ``record_linkage``; a key of another epoch, another secret or the wrong shape is refused;
- a question is asked about one of the asker's own enrolled subjects (never with a free-form
  key), and is answered only when the policy lets the asker learn about at least one agency
  (``record_linkage`` consent naming it, decided by ``data.gateway.decision`` like any
  exchange); a match is reported only when the holder's subject's consent lets the holder's
  knowing them be told to the asker; the answer is "agency X, strength S, match id", never a
  subject id of X nor any data: it leads to an information request or a referral;
- every question is audited (answered, refused, throttled), every disclosed match is audited
  under the holder's subject too (the person sees it in their portal), and an agency asking
  more than ``QUERIES_PER_HOUR`` questions is throttled and listed on the DPO's page.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kernel.ids import new_id

from ..audit.log import Actor, AuditEvent, record, record_refusal
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import Conflict, Forbidden, GatewayError, NotFound, TooManyRequests, Unprocessable
from ..exchange import state
from ..exchange.service import _decide as decide_exchange
from ..policy.decision import Decision
from ..registry.models import Agency, AgencyKind, VettingStatus
from ..sealing import sealed_without_order
from .index import KEY_BYTES, Candidate, forget, index_for
from .models import EpochStatus, LinkageEpoch, LinkageKeyRecord, LinkageMatch, LinkageQuery, QueryOutcome

PURPOSE: Final = "record_linkage"
FIELD: Final = "linkage.possible_match"
VERSION: Final = "srg-linkage/v1"

POSSIBLE: Final = 0.885
"""Dice coefficient from which a stored key is reported as a possible match (bench/linkage.py)."""
STRONG: Final = 0.92
"""From here the answer says ``strong``."""
QUERIES_PER_HOUR: Final = 30
"""Questions one agency may ask in any hour; more are refused (429) and shown to the DPO."""
FRESH_KEY_S: Final = 3600
"""A question asked less than this after its key was enrolled counts as asked with a fresh key."""
HOLDER_TRIES: Final = 3
"""Candidates of one agency the holder-side policy is asked about before giving up on that agency."""

_EPOCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_CHECK = re.compile(r"^[0-9a-f]{24}$")



def _deleted(result: object) -> int:
    """Rows a DELETE removed (a ``CursorResult``'s ``rowcount``)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _actor(caller: Caller) -> Actor:
    """The agency and, when its client acts for one, the signed-in person (a question names its asker)."""
    return Actor(agency_id=caller.agency_id, role=caller.kind, user=caller.user)


# ------------------------------------------------------------------------------ epochs

def current_epoch(session: Session) -> LinkageEpoch | None:
    return session.scalars(select(LinkageEpoch).where(LinkageEpoch.status == EpochStatus.CURRENT)).first()


def start_epoch(session: Session, ctx: GatewayContext, caller: Caller, epoch_id: str) -> dict[str, Any]:
    """The operator announces that agencies now encode with a new shared secret (rotation).

    The previous epoch is retired and its keys deleted in the same transaction: they were made
    with a secret that is being given up, and a key of two epochs must never be comparable.
    Agencies enrol their subjects again under the new epoch.
    """
    if not _EPOCH.fullmatch(epoch_id):
        raise Unprocessable("linkage_epoch_invalid", "An epoch id is 1-40 letters, digits, '.', '_' or '-'.")
    now = ctx.clock.now()
    with session.begin():
        if session.get(LinkageEpoch, epoch_id) is not None:
            raise Conflict("linkage_epoch_exists", "This epoch id was already used; choose a new one.")
        retired: list[str] = []
        deleted = 0
        for old in session.scalars(select(LinkageEpoch).where(LinkageEpoch.status == EpochStatus.CURRENT)):
            old.status, old.retired_at = EpochStatus.RETIRED, now
            retired.append(old.id)
        if retired:
            deleted = _deleted(session.execute(delete(LinkageKeyRecord).where(LinkageKeyRecord.epoch_id.in_(retired))))
        session.add(LinkageEpoch(id=epoch_id, status=EpochStatus.CURRENT, check_value=None, started_at=now))
        record(session, AuditEvent(AuditTag.LINKAGE_EPOCH, decision="allow", purpose=PURPOSE,
                                   details={"epoch": epoch_id, "retired": retired, "keys_deleted": deleted}),
               actor=_actor(caller), at=now)
    forget(ctx.engine)
    return {"epoch": epoch_id, "status": EpochStatus.CURRENT, "started_at": now.isoformat(), "retired": retired,
            "keys_deleted": deleted}


# ------------------------------------------------------------------------------ enrolment

def _decode_key(clk: str) -> bytes:
    try:
        raw = base64.b64decode(clk, validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable("linkage_key_invalid", "The key is not base64.") from None
    if len(raw) != KEY_BYTES:
        raise Unprocessable("linkage_key_invalid", f"A linkage key is {KEY_BYTES} bytes.")
    if int.from_bytes(raw, "big").bit_count() != KEY_BYTES * 4:
        # The SDK balances every key (exactly half its bits set); anything else was not made by it.
        raise Unprocessable("linkage_key_invalid", "A linkage key has exactly half of its bits set.")
    return raw


def enrol(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str, body: dict[str, Any],
          request_id: str | None = None) -> dict[str, Any]:
    """Store or replace the linkage key of one of the caller's own subjects."""
    now = ctx.clock.now()
    try:
        with session.begin():
            if state.own_subject(session, subject_id, caller.agency_id) is None:
                raise NotFound("unknown_subject")
            if body.get("version") != VERSION:
                raise Unprocessable("linkage_version_unsupported", f"This gateway compares {VERSION} keys.")
            epoch = _usable_epoch(session, str(body.get("epoch", "")))
            check = str(body.get("check_value", ""))
            if not _CHECK.fullmatch(check):
                raise Unprocessable("linkage_key_invalid", "The secret's check value is 24 hex digits.")
            if epoch.check_value is None:
                epoch.check_value = check
            elif epoch.check_value != check:
                raise Conflict("linkage_secret_mismatch",
                               "This key was made with another secret than the epoch's first keys.")
            raw = _decode_key(str(body.get("clk", "")))
            consents = state.consents_in_force(session, subject_id, now)
            if not any(c.get("purpose") == PURPOSE for c in consents):
                raise Unprocessable("linkage_consent_missing",
                                    "No consent in force lets this person be looked for (record_linkage).")
            replaced = _deleted(session.execute(delete(LinkageKeyRecord).where(
                LinkageKeyRecord.agency_id == caller.agency_id, LinkageKeyRecord.subject_id == subject_id)))
            row = LinkageKeyRecord(agency_id=caller.agency_id, subject_id=subject_id, epoch_id=epoch.id, clk=raw,
                                   enrolled_at=now)
            session.add(row)
            session.flush()
            record(session, AuditEvent(AuditTag.LINKAGE_ENROL, decision="allow", subject_id=subject_id,
                                       purpose=PURPOSE, details={"epoch": epoch.id, "replaced": bool(replaced)}),
                   actor=_actor(caller), at=now, request_id=request_id)
            return {"subject_id": subject_id, "epoch": epoch.id, "enrolled_at": now.isoformat(),
                    "replaced": bool(replaced)}
    except GatewayError as exc:
        if exc.reason != "unknown_subject":
            record_refusal(ctx.sessions, AuditEvent(
                AuditTag.LINKAGE_ENROL, decision="deny", reason=exc.reason, subject_id=subject_id, purpose=PURPOSE,
            ), actor=_actor(caller), at=now, request_id=request_id)
        raise


def _usable_epoch(session: Session, epoch_id: str) -> LinkageEpoch:
    epoch = session.get(LinkageEpoch, epoch_id) if epoch_id else None
    if epoch is None:
        raise Conflict("linkage_epoch_unknown", "No such epoch; the operator announces each new shared secret.")
    if epoch.status != EpochStatus.CURRENT:
        raise Conflict("linkage_epoch_retired", "This epoch's secret was rotated: encode with the current one.")
    return epoch


def remove(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str,
           request_id: str | None = None) -> None:
    """Delete the caller's key for its subject (the person withdrew, or the case closed); idempotent."""
    now = ctx.clock.now()
    with session.begin():
        if state.own_subject(session, subject_id, caller.agency_id) is None:
            raise NotFound("unknown_subject")
        removed = _deleted(session.execute(delete(LinkageKeyRecord).where(
            LinkageKeyRecord.agency_id == caller.agency_id, LinkageKeyRecord.subject_id == subject_id)))
        if removed:
            record(session, AuditEvent(AuditTag.LINKAGE_REMOVE, decision="allow", subject_id=subject_id,
                                       purpose=PURPOSE), actor=_actor(caller), at=now, request_id=request_id)


# ------------------------------------------------------------------------------ queries

@dataclass
class _Refusal(Exception):
    error: GatewayError
    subject_id: str
    outcome: str
    key_age_s: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Asker:
    """The signed-in person a question is asked for: the policy role and account from their account."""

    user_role: str
    user_id: str


def query(session: Session, ctx: GatewayContext, caller: Caller, subject_id: str, *, user_role: str,
          user_id: str, request_id: str | None = None) -> dict[str, Any]:
    """Answer "which agencies may already know this subject?" (see the module's promises), for the
    signed-in person ``user_id`` with their policy role ``user_role`` (required: no default role)."""
    now = ctx.clock.now()
    asker = Asker(user_role, user_id)
    try:
        with session.begin():
            return _query(session, ctx, caller, asker, subject_id, now, request_id)
    except _Refusal as refusal:
        _record_refused(ctx, caller, refusal, now, request_id)
        raise refusal.error from None


def _record_refused(ctx: GatewayContext, caller: Caller, refusal: _Refusal, now: datetime,
                    request_id: str | None) -> None:
    """A refused question: its row (rate limit, DPO page) and its audit entry, in their own transaction."""
    with ctx.sessions() as session, session.begin():
        session.add(LinkageQuery(id=new_id("lq"), agency_id=caller.agency_id, subject_id=refusal.subject_id, at=now,
                                 outcome=refusal.outcome, reason=refusal.error.reason, matches=0,
                                 key_age_s=refusal.key_age_s))
    record_refusal(ctx.sessions, AuditEvent(
        AuditTag.LINKAGE_REFUSE, decision="deny", reason=refusal.error.reason, subject_id=refusal.subject_id,
        purpose=PURPOSE, details={"outcome": refusal.outcome, **refusal.details},
    ), actor=_actor(caller), at=now, request_id=request_id)


def _query(session: Session, ctx: GatewayContext, caller: Caller, asker: Asker, subject_id: str, now: datetime,
           request_id: str | None) -> dict[str, Any]:
    asked = session.scalar(select(func.count()).select_from(LinkageQuery).where(
        LinkageQuery.agency_id == caller.agency_id, LinkageQuery.at > now - timedelta(hours=1))) or 0
    if asked >= QUERIES_PER_HOUR:
        retry = _retry_after(session, caller.agency_id, now)
        raise _Refusal(TooManyRequests("linkage_rate_limited",
                                       f"At most {QUERIES_PER_HOUR} linkage questions an hour.",
                                       headers={"Retry-After": str(retry)}), subject_id, QueryOutcome.THROTTLED)
    subject = state.own_subject(session, subject_id, caller.agency_id)
    if subject is None:
        raise NotFound("unknown_subject")
    epoch = current_epoch(session)
    mine = session.scalars(select(LinkageKeyRecord).where(
        LinkageKeyRecord.agency_id == caller.agency_id, LinkageKeyRecord.subject_id == subject_id)).first()
    if epoch is None or mine is None or mine.epoch_id != epoch.id:
        raise _Refusal(Unprocessable("linkage_key_missing",
                                     "Enrol this subject's key for the current epoch before asking."),
                       subject_id, QueryOutcome.REFUSED)
    key_age = int((now - mine.enrolled_at).total_seconds())
    # May the asker learn about each agency? Decided against every vetted agency, so that the
    # answer never depends on which agencies hold keys.
    agencies = list(session.scalars(select(Agency).where(
        Agency.vetting_status == VettingStatus.VETTED, Agency.id != caller.agency_id,
        Agency.kind != AgencyKind.GATEWAY_OPERATOR).order_by(Agency.id)))
    allowed: dict[str, Decision] = {}
    reasons: list[str] = []
    for agency in agencies:
        decision, _child = decide_exchange(session, ctx, caller, subject_id=subject_id, recipient_id=agency.id,
                                           purpose=PURPOSE, fields=[FIELD], user_role=asker.user_role,
                                           user_id=asker.user_id)
        if decision.allow:
            allowed[agency.id] = decision
        else:
            reasons.extend(decision.reasons or ("policy_denied",))
    if not allowed:
        reason = "no_consent" if "no_consent" in reasons else (reasons[0] if reasons else "no_consent")
        raise _Refusal(Forbidden("linkage_not_permitted",
                                 "No consent or lawful basis lets this agency ask about this person.",
                                 extra={"policy_reason": reason}),
                       subject_id, QueryOutcome.REFUSED, key_age, {"policy_reason": reason})
    index = index_for(ctx.engine, epoch.id)
    index.refresh(session)
    candidates = [c for c in index.search(mine.clk, POSSIBLE) if c.agency_id in allowed]
    current = _still_enrolled(session, [c.seq for c in candidates])
    by_agency: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.seq in current:
            by_agency.setdefault(candidate.agency_id, []).append(candidate)
    query_row = LinkageQuery(id=new_id("lq"), agency_id=caller.agency_id, subject_id=subject_id, at=now,
                             outcome=QueryOutcome.ANSWERED, reason=None, matches=0, key_age_s=key_age)
    session.add(query_row)
    session.flush()
    answers: list[dict[str, Any]] = []
    for holder_id, found in sorted(by_agency.items(), key=lambda item: -item[1][0].strength):
        match = _holder_allows(session, ctx, caller, asker, holder_id, found, query_row, now, request_id)
        if match is not None:
            answers.append(match)
    query_row.matches = len(answers)
    asker_basis = sorted({cid for d in allowed.values() for cid in d.basis.consent_ids})
    record(session, AuditEvent(
        AuditTag.LINKAGE_QUERY, decision="allow", subject_id=subject_id, purpose=PURPOSE,
        classes_requested=("D22",), classes_released=("D22",) if answers else (),
        policy_version=next(iter(allowed.values())).policy_version,
        basis={"consent_ids": asker_basis, "exception": None},
        details={"query_id": query_row.id, "epoch": epoch.id, "agencies_allowed": sorted(allowed),
                 "matches": [{"agency_id": a["agency_id"], "match_id": a["match_id"], "strength": a["strength"]}
                             for a in answers]},
    ), actor=_actor(caller), at=now, request_id=request_id)
    return {"query_id": query_row.id, "subject_id": subject_id, "epoch": epoch.id, "matches": answers}


def _holder_allows(session: Session, ctx: GatewayContext, caller: Caller, asker: Asker, holder_id: str,
                   found: list[Candidate], query_row: LinkageQuery, now: datetime,
                   request_id: str | None) -> dict[str, Any] | None:
    """The first candidate of ``holder_id`` whose own consents let its holder be named to the asker.

    Nobody at the holder acts: the gateway decides on the holder's behalf whether its knowing the
    person may reach the asking person. The only person in the exchange is the asker, so both sides
    are decided with the asker's role (never a default): a volunteer asking stays behind the
    volunteer firewall on the holder's side too."""
    holder = session.get(Agency, holder_id)
    if holder is None:
        return None
    as_holder = Caller(agency_id=holder.id, kind=holder.kind, jurisdiction=holder.jurisdiction, scopes=frozenset())
    for candidate in found[:HOLDER_TRIES]:
        if sealed_without_order(session, candidate.subject_id, caller.agency_id, ("D22",), now):
            # A sealed or expunged record is not there to be found: neither that the holder knows the
            # person nor where they are (issue 22). Its DPO sees the withheld match; the asker never does.
            record(session, AuditEvent(
                AuditTag.LINKAGE_DISCLOSE, decision="deny", reason="sealed_class_requires_court_order",
                subject_id=candidate.subject_id, purpose=PURPOSE, recipient_agency_id=caller.agency_id,
                classes_requested=("D22",), details={"query_id": query_row.id},
            ), actor=Actor.system(), at=now, request_id=request_id)
            continue
        decision, _child = decide_exchange(session, ctx, as_holder, subject_id=candidate.subject_id,
                                           recipient_id=caller.agency_id, purpose=PURPOSE, fields=[FIELD],
                                           user_role=asker.user_role, recipient_user_role=asker.user_role)
        basis = {"consent_ids": list(decision.basis.consent_ids), "exception": decision.basis.exception}
        if not decision.allow:
            # Under the holder's subject: its DPO sees that a match was withheld; the asker never does.
            record(session, AuditEvent(
                AuditTag.LINKAGE_DISCLOSE, decision="deny",
                reason=decision.reasons[0] if decision.reasons else "policy_denied",
                subject_id=candidate.subject_id, purpose=PURPOSE, recipient_agency_id=caller.agency_id,
                classes_requested=("D22",), policy_version=decision.policy_version, basis=basis,
                details={"query_id": query_row.id},
            ), actor=Actor.system(), at=now, request_id=request_id)
            continue
        strength = round(candidate.strength, 3)
        match = LinkageMatch(id=new_id("lm"), query_id=query_row.id, asking_agency_id=caller.agency_id,
                             asking_subject_id=query_row.subject_id, holding_agency_id=holder.id,
                             holding_subject_id=candidate.subject_id, strength=strength, created_at=now)
        session.add(match)
        record(session, AuditEvent(
            AuditTag.LINKAGE_DISCLOSE, decision="allow", subject_id=candidate.subject_id, purpose=PURPOSE,
            recipient_agency_id=caller.agency_id, classes_requested=("D22",), classes_released=("D22",),
            policy_version=decision.policy_version, basis=basis,
            details={"query_id": query_row.id, "match_id": match.id, "strength": strength},
        ), actor=Actor.system(), at=now, request_id=request_id)
        return {"agency_id": holder.id, "strength": strength,
                "band": "strong" if candidate.strength >= STRONG else "possible", "match_id": match.id,
                "next_steps": ["information_request", "referral"]}
    return None


def _still_enrolled(session: Session, seqs: list[int]) -> set[int]:
    if not seqs:
        return set()
    return set(session.scalars(select(LinkageKeyRecord.seq).where(LinkageKeyRecord.seq.in_(seqs))))


def _retry_after(session: Session, agency_id: str, now: datetime) -> int:
    """Seconds until the oldest question of the last hour leaves the window."""
    oldest = session.scalar(select(func.min(LinkageQuery.at)).where(
        LinkageQuery.agency_id == agency_id, LinkageQuery.at > now - timedelta(hours=1)))
    if oldest is None:
        return 1
    return max(1, math.ceil((oldest + timedelta(hours=1) - now).total_seconds()))


def match_view(session: Session, caller: Caller, match_id: str) -> dict[str, Any]:
    """A match as its asker sees it (the holder and strength) or its holder sees it (its own subject).

    This is what an information request or a referral refers to; anyone else gets 404.
    """
    with session.begin():
        match = session.get(LinkageMatch, match_id)
        if match is None:
            raise NotFound("unknown_match")
        common = {"match_id": match.id, "strength": match.strength, "created_at": match.created_at.isoformat()}
        if match.asking_agency_id == caller.agency_id:
            return {**common, "role": "asker", "subject_id": match.asking_subject_id,
                    "holding_agency_id": match.holding_agency_id}
        if match.holding_agency_id == caller.agency_id:
            return {**common, "role": "holder", "subject_id": match.holding_subject_id,
                    "asking_agency_id": match.asking_agency_id}
        raise NotFound("unknown_match")


# ------------------------------------------------------------------------------ the DPO's view

@dataclass
class AgencyActivity:
    """One agency's linkage questions in a window, and why it looks like probing (if it does)."""

    agency_id: str
    queries: int = 0
    answered: int = 0
    refused: int = 0
    throttled: int = 0
    with_matches: int = 0
    fresh_keys: int = 0
    subjects: int = 0
    last_at: datetime | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def probing(self) -> bool:
        return bool(self.flags)


def activity(session: Session, now: datetime, *, days: int = 7) -> list[AgencyActivity]:
    """Every agency that asked in the last ``days``, the probing ones first.

    Flags: ``throttled`` (went over the hourly limit), ``refused`` (three or more questions it had
    no basis to ask), ``fresh_keys`` (at least five questions, half or more asked within an hour
    of enrolling the key: subjects made up to look someone up), ``high_match_rate`` (five or
    more questions, most of them answered with a match: checking known people).
    """
    since = now - timedelta(days=days)
    rows = session.execute(select(LinkageQuery.agency_id, LinkageQuery.subject_id, LinkageQuery.at,
                                  LinkageQuery.outcome, LinkageQuery.matches, LinkageQuery.key_age_s)
                           .where(LinkageQuery.at > since).order_by(LinkageQuery.at)).all()
    found: dict[str, AgencyActivity] = {}
    subjects: dict[str, set[str]] = {}
    for agency_id, subject_id, at, outcome, matches, key_age in rows:
        item = found.setdefault(agency_id, AgencyActivity(agency_id))
        item.queries += 1
        item.answered += outcome == QueryOutcome.ANSWERED
        item.refused += outcome == QueryOutcome.REFUSED
        item.throttled += outcome == QueryOutcome.THROTTLED
        item.with_matches += bool(matches)
        item.fresh_keys += key_age is not None and key_age < FRESH_KEY_S
        item.last_at = at
        subjects.setdefault(agency_id, set()).add(subject_id)
    for agency_id, item in found.items():
        item.subjects = len(subjects[agency_id])
        if item.throttled:
            item.flags.append("throttled")
        if item.refused >= 3:
            item.flags.append("refused")
        if item.queries >= 5 and 2 * item.fresh_keys >= item.queries:
            item.flags.append("fresh_keys")
        if item.answered >= 5 and 2 * item.with_matches > item.answered:
            item.flags.append("high_match_rate")
    return sorted(found.values(), key=lambda a: (not a.probing, -a.queries, a.agency_id))
