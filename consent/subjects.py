"""Subjects: a pseudonym and the few attributes policy needs, with an append-only change log.

The gateway knows a person only by a random id it issued (``subj_...``). No name, address
or narrative field exists, and the quasi-identifiers it is given are kept only as far as a
policy decision needs them (issue 17): a date of birth becomes the day the person comes of
age (``adult_on``, all CH1 reads of it; :func:`consent.age.coming_of_age`), and a language tag
only its language and script (all CR9 and the portal compare, :func:`coarse_language`); the
region, variants and the birth date itself are never stored, nor written to the change log.
Only the agency that created a subject (its owner) may read or change it; to everyone else it
does not exist. Every change of an attribute, including the values set at creation, is an
append-only :class:`SubjectAttributeChange` row (who, when, why, which attribute, old and new
value codes) written in the same transaction as its audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from crypto.canonical import canonical_json
from kernel.ids import SHORT, new_id

from .age import coming_of_age, is_child
from .audit import Actor, AuditAction, AuditSink
from .directory import AgencyDirectory, AgencyInfo
from .errors import Failure, NotFoundError, RefusedError
from .orm import Base
from .placement import placement_ref
from .vocabulary import (
    AgeBand,
    AgeOutcome,
    AppealStatus,
    CapacityStatus,
    ChangeReason,
    CJRole,
    ContactSafety,
    ExploitationType,
    NrmOutcome,
    Purpose,
    Sex,
)

__all__ = [
    "ATTRIBUTES",
    "STORED_AS",
    "MandatedNoticeSpec",
    "MandatedReporterNotice",
    "Subject",
    "SubjectAttributeChange",
    "attribute_history",
    "change_attributes",
    "coarse_language",
    "create_subject",
    "get_subject",
    "has_mandated_notice",
    "is_child",
    "new_subject_id",
    "record_mandated_notice",
]


def new_subject_id() -> str:
    """A random pseudonym; it encodes nothing about the person or the order of creation."""
    return new_id("subj")


class Subject(Base):
    """A person as the gateway knows them: a pseudonym and the attributes policy needs."""

    __tablename__ = "subjects"
    __table_args__ = (Index("ix_subjects_owner_agency_id", "owner_agency_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    """Opaque staff id of whoever created it at the owner agency."""
    adult_on: Mapped[date | None] = mapped_column(Date)
    """The first day the person is 18 (from a date of birth given; the date itself is not kept)."""
    age_band: Mapped[str | None] = mapped_column(String(8))
    age_disputed: Mapped[bool] = mapped_column(default=False)
    age_assessment_outcome: Mapped[str | None] = mapped_column(String(10))
    age_appeal_status: Mapped[str] = mapped_column(String(10), default=AppealStatus.NONE)
    preferred_language: Mapped[str | None] = mapped_column(String(35))
    """Language and script only (``sr-Latn``; never a region): what CR9 and the portal compare."""
    asylum_claimed: Mapped[bool] = mapped_column(default=False)
    possible_refugee: Mapped[bool] = mapped_column(default=False)
    country_of_origin: Mapped[str | None] = mapped_column(String(2))
    guardian_advocate_id: Mapped[str | None] = mapped_column(String(64))
    guardian_advocate_agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"))
    """The guardian advocate service the child is allocated to: the only one that receives their data (CH4)."""
    parental_guardian_id: Mapped[str | None] = mapped_column(String(64))
    guardian_suspected: Mapped[bool] = mapped_column(default=False)
    declined_nrm: Mapped[bool] = mapped_column(default=False)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """purpose -> has_capacity | lacking | not_assessed (CR10: per decision type)."""
    cj_role: Mapped[str] = mapped_column(String(12), default=CJRole.NONE)
    open_cases: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    """[{"recipient_agency_id"}]: agencies holding an open criminal case (CR15)."""
    placement_ref: Mapped[str | None] = mapped_column(String(44))
    """A keyed reference to the agency the person is placed at (:mod:`consent.placement`), never its id."""
    nrm_referred_at: Mapped[datetime | None]
    """When the referral into the National Referral Mechanism (Stage 1) was made: starts the timers."""
    stage1_outcome: Mapped[str | None] = mapped_column(String(8))
    stage1_decided_at: Mapped[datetime | None]
    stage2_outcome: Mapped[str | None] = mapped_column(String(8))
    stage2_decided_at: Mapped[datetime | None]
    contact_safety: Mapped[str | None] = mapped_column(String(20))
    """:class:`ContactSafety`: whether the person's contact channels are verified safe (SEC12, S40)."""
    declined_protection: Mapped[bool] = mapped_column(default=False)
    """The person refused an offered protection or shelter (CR38): recorded, and never read by the
    policy, the timers or anything that decides a service (it closes nothing)."""
    sex: Mapped[str | None] = mapped_column(String(8))
    """Coarse, optional, for anonymised statistics only (gateway.statistics)."""
    exploitation_type: Mapped[str | None] = mapped_column(String(20))
    """Coarse, optional, for anonymised statistics only (gateway.statistics)."""


class SubjectAttributeChange(Base):
    """One attribute change. Rows are only ever inserted."""

    __tablename__ = "subject_attribute_changes"
    __table_args__ = (UniqueConstraint("subject_id", "seq"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    seq: Mapped[int]
    """Order of the change within its subject's history, from 1 (per subject: it leaks no global count)."""
    attribute: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(Text)
    """Canonical JSON of the old value code (``null`` when it was unset)."""
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime]
    changed_by_agency_id: Mapped[str | None] = mapped_column(String(64))
    changed_by_user: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(40))


class MandatedReporterNotice(Base):
    """CR8: the person was told, at the onset, that this agency is a mandated reporter."""

    __tablename__ = "mandated_reporter_notices"
    __table_args__ = (Index("ix_mandated_reporter_notices_subject_agency", "subject_id", "agency_id", "given_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    given_at: Mapped[datetime]
    given_by: Mapped[str] = mapped_column(String(120))
    notice_version: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(35))
    recorded_at: Mapped[datetime]


# ---------------------------------------------------------------- attribute vocabulary


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _optional_code(values: type[Any]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value is None else str(values(value))

    return check


def _code(values: type[Any]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        return str(values(value))

    return check


def _opaque_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.replace("-", "").replace("_", "").isalnum():
        raise ValueError
    return value


def coarse_language(tag: str) -> str:
    """A BCP 47 tag's language and script subtags only (``ar-SY`` -> ``ar``, ``sr-latn-RS`` -> ``sr-Latn``).

    ``consent.rules.same_language`` compares exactly these, so CR9 decides the same on either.
    """
    subtags = tag.split("-")
    script = next((s for s in subtags[1:] if len(s) == 4 and s.isalpha()), None)
    return subtags[0].lower() + (f"-{script.title()}" if script else "")


def _language(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 2 <= len(value) <= 35:
        raise ValueError
    parts = value.split("-")
    if not (parts[0].isalpha() and 2 <= len(parts[0]) <= 3) or not all(p.isalnum() and 1 <= len(p) <= 8
                                                                       for p in parts[1:]):
        raise ValueError
    return coarse_language(value)


def _country(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 2 or not value.isalpha():
        raise ValueError
    return value.upper()


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError
    return value


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError
    return value.astimezone(UTC)


def _capacity(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError
    return {str(Purpose(k)): str(CapacityStatus(v)) for k, v in sorted(value.items())}


def _open_cases(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list | tuple):
        raise ValueError
    ids = set()
    for case in value:
        if not isinstance(case, Mapping) or set(case) != {"recipient_agency_id"}:
            raise ValueError
        ids.add(_opaque_id(case["recipient_agency_id"]))
    return [{"recipient_agency_id": i} for i in sorted(i for i in ids if i)]


def _coming_of_age(value: Any) -> date | None:
    born = _date(value)
    return None if born is None else coming_of_age(born)


#: Attributes given that are stored as another: the name stored, and the conversion.
STORED_AS: dict[str, str] = {"date_of_birth": "adult_on", "placement_agency_id": "placement_ref"}

#: Every attribute a subject may be given, with the check that normalises a new value (ValueError if
#: invalid) into what is stored (under :data:`STORED_AS`'s name where it differs).
ATTRIBUTES: dict[str, Callable[[Any], Any]] = {
    "date_of_birth": _coming_of_age,
    "age_band": _optional_code(AgeBand),
    "age_disputed": _bool,
    "age_assessment_outcome": _optional_code(AgeOutcome),
    "age_appeal_status": _code(AppealStatus),
    "preferred_language": _language,
    "asylum_claimed": _bool,
    "possible_refugee": _bool,
    "country_of_origin": _country,
    "guardian_advocate_id": _opaque_id,
    "guardian_advocate_agency_id": _opaque_id,
    "parental_guardian_id": _opaque_id,
    "guardian_suspected": _bool,
    "declined_nrm": _bool,
    "capacity": _capacity,
    "cj_role": _code(CJRole),
    "open_cases": _open_cases,
    "placement_agency_id": _opaque_id,
    "nrm_referred_at": _instant,
    "stage1_outcome": _optional_code(NrmOutcome),
    "stage1_decided_at": _instant,
    "stage2_outcome": _optional_code(NrmOutcome),
    "stage2_decided_at": _instant,
    "contact_safety": _optional_code(ContactSafety),
    "declined_protection": _bool,
    "sex": _optional_code(Sex),
    "exploitation_type": _optional_code(ExploitationType),
}

_DEFAULTS: dict[str, Any] = {
    "adult_on": None, "age_band": None, "age_disputed": False, "age_assessment_outcome": None,
    "age_appeal_status": str(AppealStatus.NONE), "preferred_language": None, "asylum_claimed": False,
    "possible_refugee": False, "country_of_origin": None, "guardian_advocate_id": None,
    "guardian_advocate_agency_id": None, "parental_guardian_id": None, "guardian_suspected": False,
    "declined_nrm": False, "capacity": {},
    "cj_role": str(CJRole.NONE), "open_cases": [], "placement_ref": None,
    "nrm_referred_at": None, "stage1_outcome": None, "stage1_decided_at": None, "stage2_outcome": None,
    "stage2_decided_at": None, "contact_safety": None, "declined_protection": False, "sex": None,
    "exploitation_type": None,
}


def _value_code(value: Any) -> str:
    """The change log's encoding of a value: canonical JSON (dates as ISO 8601)."""
    if isinstance(value, date):
        value = value.isoformat()
    return canonical_json(value).decode()


def _normalise(changes: Mapping[str, Any], directory: AgencyDirectory, subject_id: str,
               placement_key: bytes | None) -> dict[str, Any]:
    failures: list[Failure] = []
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        check = ATTRIBUTES.get(name)
        if check is None:
            failures.append(Failure("unknown_attribute", "CR4", name))
            continue
        try:
            clean[STORED_AS.get(name, name)] = check(value)
        except (ValueError, TypeError):
            failures.append(Failure("invalid_attribute", "CR4", name))
    agency_refs = [("placement_agency_id", clean.get("placement_ref")),
                   ("guardian_advocate_agency_id", clean.get("guardian_advocate_agency_id"))]
    agency_refs += [("open_cases", c["recipient_agency_id"]) for c in clean.get("open_cases", [])]
    for field, agency_id in agency_refs:
        if agency_id is not None and directory.get(agency_id) is None:
            failures.append(Failure("unknown_agency", "CR15", field))
    if failures:
        raise RefusedError(failures)
    if clean.get("placement_ref") is not None:  # checked above as an agency id; stored only as a keyed reference
        if placement_key is None:
            raise ValueError("a placement needs the gateway's placement key")
        clean["placement_ref"] = placement_ref(placement_key, subject_id, clean["placement_ref"])
    return clean


#: CH4: a guardian advocate's caseload is at most 20 children (seed 001 line 4711).
GUARDIAN_ADVOCATE_CASELOAD = 20


def _check_caseload(session: Session, guardian_advocate_id: str | None, subject_id: str | None) -> None:
    """CH4: allocating one more child to a guardian advocate who already has a full caseload is refused."""
    if guardian_advocate_id is None:
        return
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":  # two allocations at once must not both see 19 (SQLite writers queue)
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "ga:" + guardian_advocate_id})
    query = select(func.count()).select_from(Subject).where(Subject.guardian_advocate_id == guardian_advocate_id)
    if subject_id is not None:
        query = query.where(Subject.id != subject_id)
    if (session.scalar(query) or 0) >= GUARDIAN_ADVOCATE_CASELOAD:
        raise RefusedError([Failure("guardian_advocate_caseload_full", "CH4", "guardian_advocate_id")])


_NRM = ("nrm_referred_at", "stage1_outcome", "stage1_decided_at", "stage2_outcome", "stage2_decided_at")


def _check_nrm(values: Mapping[str, Any], now: datetime) -> None:
    """The NRM stage attributes tell one consistent story: an outcome comes with its time, Stage 1
    follows the referral, Stage 2 follows a positive Stage 1, and nothing is in the future."""
    failures: list[Failure] = []
    for name in ("nrm_referred_at", "stage1_decided_at", "stage2_decided_at"):
        if values.get(name) is not None and values[name] > now:
            failures.append(Failure("nrm_time_in_future", "S38", name))
    for stage in ("stage1", "stage2"):
        if (values.get(f"{stage}_outcome") is None) != (values.get(f"{stage}_decided_at") is None):
            failures.append(Failure("nrm_outcome_needs_time", "S38", f"{stage}_decided_at"))
    referred, stage1_at = values.get("nrm_referred_at"), values.get("stage1_decided_at")
    if stage1_at is not None and (referred is None or stage1_at < referred):
        failures.append(Failure("nrm_stage1_before_referral", "S38", "stage1_decided_at"))
    if values.get("stage2_outcome") is not None:
        stage2_at = values.get("stage2_decided_at")
        if values.get("stage1_outcome") != NrmOutcome.POSITIVE:
            failures.append(Failure("nrm_stage2_without_positive_stage1", "S38", "stage2_outcome"))
        elif stage1_at is not None and stage2_at is not None and stage2_at < stage1_at:
            failures.append(Failure("nrm_stage2_before_stage1", "S38", "stage2_decided_at"))
    if failures:
        raise RefusedError(failures)


# ---------------------------------------------------------------- service


@dataclass(frozen=True)
class MandatedNoticeSpec:
    """What a staff member records after telling the person the agency is a mandated reporter."""

    given_at: datetime
    given_by: str
    notice_version: str
    language: str


def _new_change_id() -> str:
    return new_id("chg", size=SHORT)


def _add_notice(session: Session, subject_id: str, agency_id: str, spec: MandatedNoticeSpec,
                now: datetime) -> MandatedReporterNotice:
    if spec.given_at > now:
        raise RefusedError([Failure("notice_in_future", "CR8", "given_at")])
    notice = MandatedReporterNotice(
        id=new_id("mrn", size=SHORT), subject_id=subject_id, agency_id=agency_id,
        given_at=spec.given_at, given_by=spec.given_by, notice_version=spec.notice_version,
        language=coarse_language(spec.language), recorded_at=now,
    )
    session.add(notice)
    return notice


def create_subject(
    session: Session,
    *,
    owner: AgencyInfo,
    attributes: Mapping[str, Any],
    directory: AgencyDirectory,
    actor: Actor,
    now: datetime,
    audit: AuditSink,
    mandated_notice: MandatedNoticeSpec | None = None,
    placement_key: bytes | None = None,
) -> Subject:
    """Create a subject owned by ``owner``; at a mandated reporter, only with the notice (CR8, S09).

    ``placement_key`` (:mod:`consent.placement`) is needed when a placement is given."""
    if owner.mandated_reporter and mandated_notice is None:
        raise RefusedError([Failure("mandated_reporter_notice_missing", "CR8", "mandated_reporter_notice")])
    subject_id = new_subject_id()
    clean = _normalise(attributes, directory, subject_id, placement_key)
    values = {**_DEFAULTS, **clean}
    _check_nrm(values, now)
    _check_caseload(session, values["guardian_advocate_id"], None)
    subject = Subject(id=subject_id, owner_agency_id=owner.id, created_at=now,
                      created_by=actor.user or "unknown", **values)
    session.add(subject)
    session.flush()
    initial = [name for name in sorted(clean) if clean[name] != _DEFAULTS[name]]
    for seq, name in enumerate(initial, start=1):
        session.add(SubjectAttributeChange(
            id=_new_change_id(), subject_id=subject.id, seq=seq, attribute=name, old_value=None,
            new_value=_value_code(clean[name]), changed_at=now, changed_by_agency_id=actor.agency_id,
            changed_by_user=actor.user, reason=str(ChangeReason.INITIAL_RECORD),
        ))
    if mandated_notice is not None:
        _add_notice(session, subject.id, owner.id, mandated_notice, now)
    session.flush()
    audit.record(
        session, action=AuditAction.SUBJECT_CREATE, decision="info", reason=None, subject_id=subject.id,
        purpose=None, recipient_agency_id=None, classes=(), basis={},
        details={"attributes": sorted(clean), "mandated_reporter_notice": mandated_notice is not None},
        actor=actor,
    )
    return subject


def get_subject(session: Session, subject_id: str, *, agency_id: str, lock: bool = False) -> Subject:
    """The subject if ``agency_id`` owns it; the same :class:`NotFoundError` otherwise.

    ``lock`` takes the row lock (PostgreSQL) so that concurrent changes to one subject queue.
    """
    subject = session.get(Subject, subject_id, with_for_update=lock)
    if subject is None or subject.owner_agency_id != agency_id:
        raise NotFoundError("unknown_subject")
    return subject


def change_attributes(
    session: Session,
    subject_id: str,
    changes: Mapping[str, Any],
    *,
    reason: ChangeReason,
    agency_id: str,
    directory: AgencyDirectory,
    actor: Actor,
    now: datetime,
    audit: AuditSink,
    placement_key: bytes | None = None,
) -> list[SubjectAttributeChange]:
    """Apply ``changes``; each attribute whose value differs gets a change row and the audit entry."""
    subject = get_subject(session, subject_id, agency_id=agency_id, lock=True)
    if not changes:
        raise RefusedError([Failure("no_changes", "CR4", "changes")])
    clean = _normalise(changes, directory, subject.id, placement_key)
    if any(name in clean for name in _NRM):
        _check_nrm({name: clean.get(name, getattr(subject, name)) for name in _NRM}, now)
    if clean.get("guardian_advocate_id") not in (None, subject.guardian_advocate_id):
        _check_caseload(session, clean["guardian_advocate_id"], subject.id)
    last = session.scalar(select(func.max(SubjectAttributeChange.seq))
                          .where(SubjectAttributeChange.subject_id == subject.id)) or 0
    rows: list[SubjectAttributeChange] = []
    for name in sorted(clean):
        old = getattr(subject, name)
        if old == clean[name]:
            continue
        rows.append(SubjectAttributeChange(
            id=_new_change_id(), subject_id=subject.id, seq=last + len(rows) + 1, attribute=name,
            old_value=_value_code(old), new_value=_value_code(clean[name]), changed_at=now,
            changed_by_agency_id=actor.agency_id, changed_by_user=actor.user, reason=str(ChangeReason(reason)),
        ))
        setattr(subject, name, clean[name])
    session.add_all(rows)
    session.flush()
    if rows:
        audit.record(
            session, action=AuditAction.SUBJECT_ATTRIBUTE_CHANGE, decision="info", reason=str(reason),
            subject_id=subject.id, purpose=None, recipient_agency_id=None, classes=(), basis={},
            # Attribute names only: the values (a date of birth, a guardian id) stay out of the log.
            details={"attributes": [r.attribute for r in rows], "change_ids": [r.id for r in rows]},
            actor=actor,
        )
    return rows


def attribute_history(session: Session, subject_id: str, *, agency_id: str) -> list[SubjectAttributeChange]:
    """Every attribute change of the subject, in order (owner only)."""
    get_subject(session, subject_id, agency_id=agency_id)
    return list(session.scalars(
        select(SubjectAttributeChange)
        .where(SubjectAttributeChange.subject_id == subject_id)
        .order_by(SubjectAttributeChange.seq)
    ))


def record_mandated_notice(
    session: Session,
    subject_id: str,
    spec: MandatedNoticeSpec,
    *,
    agency_id: str,
    actor: Actor,
    now: datetime,
    audit: AuditSink,
) -> MandatedReporterNotice:
    """Record that the person was told this agency is a mandated reporter (CR8)."""
    subject = get_subject(session, subject_id, agency_id=agency_id)
    notice = _add_notice(session, subject.id, agency_id, spec, now)
    session.flush()
    audit.record(
        session, action=AuditAction.SUBJECT_MANDATED_NOTICE, decision="info", reason=None,
        subject_id=subject.id, purpose=None, recipient_agency_id=None, classes=(), basis={},
        details={"notice_id": notice.id, "notice_version": spec.notice_version}, actor=actor,
    )
    return notice


def has_mandated_notice(session: Session, subject_id: str, agency_id: str, at: datetime) -> bool:
    """Whether ``agency_id`` told the person it is a mandated reporter at or before ``at``."""
    found = session.scalar(
        select(MandatedReporterNotice.id)
        .where(MandatedReporterNotice.subject_id == subject_id, MandatedReporterNotice.agency_id == agency_id,
               MandatedReporterNotice.given_at <= at)
        .limit(1)
    )
    return found is not None
