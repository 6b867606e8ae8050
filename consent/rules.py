"""Pure validation of a consent draft: every failed rule, with a stable reason, in a fixed order.

Nothing here touches a database or a clock: :func:`validate` takes the draft and the facts
it needs (the subject, the agencies involved, whether a mandated-reporter notice exists)
and returns a tuple of :class:`~consent.errors.Failure`. An empty tuple means valid; the
first failure is the one an API answers with as ``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from .age import AgeFacts, is_child
from .directory import AgencyInfo
from .errors import Failure
from .vocabulary import (
    HIGH_IMPACT_PURPOSES,
    LEGAL_CONSEQUENCE_PURPOSES,
    CapacityStatus,
    Channel,
    CJOption,
    ExplainedItem,
    InterpreterRelationship,
    Purpose,
    ScopeTier,
)

__all__ = [
    "MAX_CLOCK_SKEW",
    "ChildViews",
    "ConsentDraft",
    "GuardianConsent",
    "Interpreter",
    "RecipientClaim",
    "SubjectFacts",
    "ValidationContext",
    "needs_confirmation",
    "same_language",
    "split_bundle",
    "validate",
]

#: How far in the future ``obtained_at`` may lie (clients' clocks drift a little).
MAX_CLOCK_SKEW = timedelta(minutes=5)


class SubjectFacts(AgeFacts, Protocol):
    """The subject attributes the consent rules read."""

    @property
    def preferred_language(self) -> str | None: ...
    @property
    def capacity(self) -> dict[str, Any]: ...
    @property
    def guardian_suspected(self) -> bool: ...
    @property
    def parental_guardian_id(self) -> str | None: ...


@dataclass(frozen=True)
class RecipientClaim:
    """A named recipient as the person was told of it: the agency id, and for cross-border
    recipients the country and organisation named explicitly (CR25)."""

    agency_id: str
    country: str | None = None
    organisation: str | None = None


@dataclass(frozen=True)
class Interpreter:
    """The interpreter of a consent session (CR9): only a vetted professional counts."""

    interpreter_id: str
    relationship: InterpreterRelationship
    vetted: bool


@dataclass(frozen=True)
class GuardianConsent:
    """The parental guardian's consent for a child (CH6)."""

    guardian_id: str
    given_at: datetime


@dataclass(frozen=True)
class ChildViews:
    """That the child's views were recorded, by whom, when, and where the record is kept."""

    recorded_by: str
    recorded_at: datetime
    reference: str


@dataclass(frozen=True)
class ConsentDraft:
    """A consent as submitted. ``purposes`` has exactly one element unless it is a bundle (CR3)."""

    subject_id: str
    purposes: tuple[Purpose, ...]
    recipients: tuple[RecipientClaim, ...]
    scope: ScopeTier
    data_classes: tuple[str, ...]
    explained_items: frozenset[ExplainedItem]
    notice_version: str | None
    language: str
    channel: Channel
    capacity: CapacityStatus
    obtained_by: str
    obtained_by_role: str
    obtained_at: datetime
    expires_at: datetime
    interpreter: Interpreter | None = None
    guardian_consent: GuardianConsent | None = None
    child_views: ChildViews | None = None
    cj_option: CJOption | None = None
    duty_to_share_acknowledged: frozenset[str] = field(default_factory=frozenset)
    supersedes: str | None = None

    @property
    def purpose(self) -> Purpose:
        """The one purpose of a draft that is not a bundle."""
        if len(self.purposes) != 1:
            raise ValueError("a bundle has no single purpose")
        return self.purposes[0]


@dataclass(frozen=True)
class ValidationContext:
    """Facts looked up by the service for :func:`validate`."""

    subject: SubjectFacts
    recording_agency: AgencyInfo
    recipients: Mapping[str, AgencyInfo | None]
    mandated_notice_given: bool
    now: datetime


def same_language(a: str, b: str) -> bool:
    """BCP 47 tags name the same language for understanding: same primary language subtag and
    the same script where both give one (``en-GB`` ~ ``en``; ``sr-Latn`` !~ ``sr-Cyrl``)."""

    def parts(tag: str) -> tuple[str, str | None]:
        subtags = tag.lower().split("-")
        script = next((s for s in subtags[1:] if len(s) == 4 and s.isalpha()), None)
        return subtags[0], script

    (lang_a, script_a), (lang_b, script_b) = parts(a), parts(b)
    return lang_a == lang_b and (script_a is None or script_b is None or script_a == script_b)


def needs_confirmation(purpose: Purpose, channel: Channel) -> bool:
    """CR13: a high-impact consent given by phone is flagged for confirmation."""
    return channel == Channel.PHONE and purpose in HIGH_IMPACT_PURPOSES


def split_bundle(draft: ConsentDraft) -> list[ConsentDraft]:
    """CR3: one draft per purpose, each to be confirmed on its own (never accepted as a bundle)."""
    return [
        replace(draft, purposes=(p,), cj_option=draft.cj_option if p == Purpose.CRIMINAL_JUSTICE else None)
        for p in dict.fromkeys(draft.purposes)
    ]


# ---------------------------------------------------------------- the rules, in answer order


def _bundle(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    if len(set(d.purposes)) != 1:
        return [Failure("bundled_purposes", "CR3", "purposes")]
    return []


def _mandated_reporter(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    if c.recording_agency.mandated_reporter and not c.mandated_notice_given:
        return [Failure("mandated_reporter_notice_missing", "CR8", "subject_id")]
    return []


def _recipients(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    failures = []
    if not d.recipients:
        failures.append(Failure("explained_item_missing", "CR5", "recipients"))
    for i, claim in enumerate(d.recipients):
        agency = c.recipients.get(claim.agency_id)
        where = f"recipients[{i}]"
        if agency is None or not agency.addressable:
            failures.append(Failure("recipient_unknown", "CR5", f"{where}.agency_id"))
            continue
        if agency.jurisdiction.upper() != c.recording_agency.jurisdiction.upper():
            named_country = (claim.country or "").upper() == agency.jurisdiction.upper()
            named_org = _same_name(claim.organisation, agency.name)
            if not (named_country and named_org):
                failures.append(Failure("cross_border_recipient_unnamed", "CR25", where))
    return failures


def _same_name(given: str | None, registered: str) -> bool:
    if not given:
        return False
    return " ".join(given.split()).casefold() == " ".join(registered.split()).casefold()


def _explained(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    failures = [
        Failure("explained_item_missing", "CR5", f"explained_items.{item}")
        for item in ExplainedItem
        if item not in d.explained_items
    ]
    if not d.notice_version:
        failures.append(Failure("notice_version_missing", "CR11", "notice_version"))
    return failures


def _language(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    failures = []
    interpreter = d.interpreter
    if interpreter is not None and interpreter.relationship != InterpreterRelationship.PROFESSIONAL:
        # S07: family, friends or associates never interpret, whatever the language.
        failures.append(Failure("interpreter_not_independent", "CR9", "interpreter.relationship"))
    preferred = c.subject.preferred_language
    if preferred and not same_language(d.language, preferred):
        if interpreter is None:
            failures.append(Failure("interpreter_required", "CR9", "interpreter"))
        elif not interpreter.vetted:
            failures.append(Failure("interpreter_not_vetted", "CR9", "interpreter.vetted"))
    return failures


def _capacity(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    # CR10: capacity is assessed per decision. Only a finding for *this* purpose counts.
    recorded = c.subject.capacity.get(str(d.purpose))
    if CapacityStatus.LACKING in (d.capacity, recorded):
        return [Failure("capacity_lacking", "CR10", "capacity")]
    return []


def _duty_to_share(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    duties = set(c.recording_agency.statutory_duties)
    for claim in d.recipients:
        agency = c.recipients.get(claim.agency_id)
        if agency is not None:
            duties.update(agency.statutory_duties)
    if not duties <= set(d.duty_to_share_acknowledged):
        return [Failure("duty_to_share_not_acknowledged", "CR7", "duty_to_share_acknowledged")]
    return []


def _criminal_justice(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    if d.purpose == Purpose.CRIMINAL_JUSTICE:
        if d.cj_option is None:
            return [Failure("cj_option_required", "CR36", "cj_option")]
        if (d.cj_option == CJOption.ANONYMOUS_INTELLIGENCE_ONLY
                and d.scope != ScopeTier.CASE_SPECIFIC_NO_PERSONAL_DATA):
            return [Failure("scope_conflicts_with_cj_option", "CR36", "scope")]
        return []
    if d.cj_option is not None:
        return [Failure("cj_option_not_applicable", "CR36", "cj_option")]
    return []


def _children(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    if not is_child(c.subject, d.obtained_at) or d.purpose not in LEGAL_CONSEQUENCE_PURPOSES:
        return []
    failures = []
    guardian = d.guardian_consent
    if guardian is not None and c.subject.guardian_suspected:
        # CH7: a guardian suspected of involvement has no consent authority.
        failures.append(Failure("guardian_suspended", "CH7", "guardian_consent"))
    elif (guardian is None or c.subject.parental_guardian_id is None
          or guardian.guardian_id != c.subject.parental_guardian_id or guardian.given_at > d.obtained_at):
        failures.append(Failure("guardian_consent_required", "CH6", "guardian_consent"))
    if d.child_views is None or d.child_views.recorded_at > d.obtained_at:
        failures.append(Failure("child_views_required", "CH9", "child_views"))
    return failures


def _dates(d: ConsentDraft, c: ValidationContext) -> list[Failure]:
    failures = []
    if d.obtained_at > c.now + MAX_CLOCK_SKEW:
        failures.append(Failure("obtained_at_in_future", "CR14", "obtained_at"))
    if d.expires_at <= max(d.obtained_at, c.now):
        failures.append(Failure("expiry_invalid", "CR14", "expires_at"))
    return failures


_SINGLE_PURPOSE_RULES = (
    _mandated_reporter, _recipients, _explained, _language, _capacity, _duty_to_share, _criminal_justice,
    _children, _dates,
)


def validate(draft: ConsentDraft, context: ValidationContext) -> tuple[Failure, ...]:
    """Every failed rule for ``draft``; empty when it may be recorded.

    A bundle (several purposes) is refused outright with ``bundled_purposes`` plus the
    failures every split draft would have, so one answer says all that must change.
    """
    if not draft.purposes:
        return (Failure("purpose_missing", "CR2", "purpose"),)
    failures = _bundle(draft, context)
    drafts = split_bundle(draft) if failures else [draft]
    for single in drafts:
        for rule in _SINGLE_PURPOSE_RULES:
            for failure in rule(single, context):
                if failure not in failures:
                    failures.append(failure)
    return tuple(failures)
