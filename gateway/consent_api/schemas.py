"""Wire shapes of the subject and consent API (pydantic at the edge; unknown fields are refused).

There is deliberately no field for a name, an address or any narrative: an unknown field
is a 422 ``unknown_field``, and the child's views are recorded *as having been recorded*
(who, when, where kept), never as text.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from consent import (
    ConsentEnding,
    ConsentRecipient,
    ConsentRecord,
    MandatedReporterNotice,
    Subject,
    SubjectAttributeChange,
    is_child,
)
from consent.vocabulary import (
    AgeBand,
    AgeOutcome,
    AppealStatus,
    CapacityStatus,
    ChangeReason,
    Channel,
    CJOption,
    CJRole,
    ContactSafety,
    ExplainedItem,
    ExploitationType,
    InterpreterRelationship,
    NrmOutcome,
    Purpose,
    ScopeTier,
    Sex,
)
from gateway.registry.models import AgencyKind

AgencyId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
OpaqueId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
LanguageTag = Annotated[str, Field(min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
DataClass = Annotated[str, Field(pattern=r"^D([1-9]|1[0-9]|2[0-6])$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


#: Fields that name the staff member acting. The gateway records the signed-in person the token acts
#: for (RFC 8693); a body that still names someone is refused (``staff_field_from_person_token``).
STAFF_FIELDS = frozenset({"obtained_by", "withdrawn_by", "recorded_by", "created_by", "changed_by", "given_by"})
STAFF_FIELD_REFUSED = "staff_field_from_person_token"


class PersonRecorded(Strict):
    """A record whose staff member is the signed-in person of the token, never a body field."""

    @model_validator(mode="before")
    @classmethod
    def _no_staff_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = sorted(STAFF_FIELDS & set(data))
            if named:
                raise PydanticCustomError(
                    STAFF_FIELD_REFUSED,
                    "{field} is the signed-in person this token acts for (RFC 8693 person token); leave it out",
                    {"field": named[0]})
        return data


class OpenCase(Strict):
    recipient_agency_id: AgencyId


class SubjectAttributesIn(Strict):
    """Every attribute a subject may have; all optional, absent means unchanged (or default)."""

    date_of_birth: date | None = None
    age_band: AgeBand | None = None
    age_disputed: bool | None = None
    age_assessment_outcome: AgeOutcome | None = None
    age_appeal_status: AppealStatus | None = None
    preferred_language: LanguageTag | None = None
    asylum_claimed: bool | None = None
    possible_refugee: bool | None = None
    country_of_origin: CountryCode | None = None
    guardian_advocate_id: OpaqueId | None = None
    guardian_advocate_agency_id: AgencyId | None = None
    parental_guardian_id: OpaqueId | None = None
    guardian_suspected: bool | None = None
    declined_nrm: bool | None = None
    capacity: dict[Purpose, CapacityStatus] | None = None
    cj_role: CJRole | None = None
    open_cases: list[OpenCase] | None = Field(default=None, max_length=20)
    placement_agency_id: AgencyId | None = None
    nrm_referred_at: AwareDatetime | None = None
    stage1_outcome: NrmOutcome | None = None
    stage1_decided_at: AwareDatetime | None = None
    stage2_outcome: NrmOutcome | None = None
    stage2_decided_at: AwareDatetime | None = None
    contact_safety: ContactSafety | None = None
    declined_protection: bool | None = None
    sex: Sex | None = None
    exploitation_type: ExploitationType | None = None

    _NOT_NULLABLE = frozenset({"age_disputed", "age_appeal_status", "asylum_claimed", "possible_refugee",
                               "guardian_suspected", "declined_nrm", "declined_protection", "capacity", "cj_role",
                               "open_cases"})

    @model_validator(mode="after")
    def _no_null_flags(self) -> SubjectAttributesIn:
        for name in self.model_fields_set & self._NOT_NULLABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def given(self) -> dict[str, Any]:
        """The attributes the client actually sent, as plain codes."""
        out: dict[str, Any] = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if name == "open_cases":
                value = [c.model_dump() for c in value]
            elif name == "capacity":
                value = {str(k): str(v) for k, v in value.items()}
            elif value is not None and not isinstance(value, bool | date | datetime):
                value = str(value)
            out[name] = value
        return out


class MandatedNoticeIn(PersonRecorded):
    """CR8: the person was told, at the onset, that this agency must report certain matters (told by the
    signed-in person the token acts for)."""

    given_at: AwareDatetime
    notice_version: Code
    language: LanguageTag


class SubjectCreate(PersonRecorded):
    attributes: SubjectAttributesIn = Field(default_factory=SubjectAttributesIn)
    mandated_reporter_notice: MandatedNoticeIn | None = None


class AttributeChangeIn(PersonRecorded):
    changes: SubjectAttributesIn
    reason: ChangeReason


class SubjectOut(BaseModel):
    id: str
    owner_agency_id: str
    created_at: datetime
    is_child: bool
    adult_on: date | None = Field(description="The first day the person is 18, from the date of birth given "
                                                  "(the gateway keeps no date of birth).")
    age_band: str | None
    age_disputed: bool
    age_assessment_outcome: str | None
    age_appeal_status: str
    preferred_language: str | None
    asylum_claimed: bool
    possible_refugee: bool
    country_of_origin: str | None
    guardian_advocate_id: str | None
    guardian_advocate_agency_id: str | None
    parental_guardian_id: str | None
    guardian_suspected: bool
    declined_nrm: bool
    capacity: dict[str, str]
    cj_role: str
    open_cases: list[dict[str, str]]
    placement_recorded: bool = Field(description="Whether a placement is recorded; the gateway keeps only a keyed "
                                                 "reference to the agency, never its id.")
    nrm_referred_at: datetime | None
    stage1_outcome: str | None
    stage1_decided_at: datetime | None
    stage2_outcome: str | None
    stage2_decided_at: datetime | None
    contact_safety: str | None = Field(default=None, description="verified_safe, unverified or third_party_access "
                                       "(SEC12, S40): only verified_safe lets a contact channel go.")
    declined_protection: bool = Field(default=False, description="The person refused an offered protection or "
                                      "shelter (CR38); it closes nothing.")
    sex: str | None = None
    exploitation_type: str | None = None

    @classmethod
    def of(cls, s: Subject, now: datetime) -> SubjectOut:
        return cls(
            id=s.id, owner_agency_id=s.owner_agency_id, created_at=s.created_at, is_child=is_child(s, now),
            adult_on=s.adult_on, age_band=s.age_band, age_disputed=s.age_disputed,
            age_assessment_outcome=s.age_assessment_outcome, age_appeal_status=s.age_appeal_status,
            preferred_language=s.preferred_language, asylum_claimed=s.asylum_claimed,
            possible_refugee=s.possible_refugee, country_of_origin=s.country_of_origin,
            guardian_advocate_id=s.guardian_advocate_id, guardian_advocate_agency_id=s.guardian_advocate_agency_id,
            parental_guardian_id=s.parental_guardian_id,
            guardian_suspected=s.guardian_suspected, declined_nrm=s.declined_nrm, capacity=dict(s.capacity),
            cj_role=s.cj_role, open_cases=list(s.open_cases), placement_recorded=s.placement_ref is not None,
            nrm_referred_at=s.nrm_referred_at, stage1_outcome=s.stage1_outcome,
            stage1_decided_at=s.stage1_decided_at, stage2_outcome=s.stage2_outcome,
            stage2_decided_at=s.stage2_decided_at, contact_safety=s.contact_safety,
            declined_protection=s.declined_protection, sex=s.sex, exploitation_type=s.exploitation_type,
        )


class AttributeChangeOut(BaseModel):
    id: str
    attribute: str
    old_value: Any
    new_value: Any
    changed_at: datetime
    changed_by_agency_id: str | None
    changed_by: str | None
    reason: str

    @classmethod
    def of(cls, c: SubjectAttributeChange) -> AttributeChangeOut:
        return cls(
            id=c.id, attribute=c.attribute,
            old_value=json.loads(c.old_value) if c.old_value is not None else None,
            new_value=json.loads(c.new_value) if c.new_value is not None else None,
            changed_at=c.changed_at, changed_by_agency_id=c.changed_by_agency_id, changed_by=c.changed_by_user,
            reason=c.reason,
        )


class MandatedNoticeOut(BaseModel):
    id: str
    subject_id: str
    agency_id: str
    given_at: datetime
    given_by: str
    notice_version: str
    language: str
    recorded_at: datetime

    @classmethod
    def of(cls, n: MandatedReporterNotice) -> MandatedNoticeOut:
        return cls(id=n.id, subject_id=n.subject_id, agency_id=n.agency_id, given_at=n.given_at,
                   given_by=n.given_by, notice_version=n.notice_version, language=n.language,
                   recorded_at=n.recorded_at)


# ---------------------------------------------------------------- consents


class RecipientIn(Strict):
    """A named recipient. For an agency in another jurisdiction, name its country and organisation (CR25)."""

    agency_id: AgencyId
    country: CountryCode | None = None
    organisation: str | None = Field(default=None, min_length=2, max_length=200)


class InterpreterIn(Strict):
    interpreter_id: OpaqueId
    relationship: InterpreterRelationship
    vetted: bool


class GuardianConsentIn(Strict):
    guardian_id: OpaqueId
    given_at: AwareDatetime


class ChildViewsIn(PersonRecorded):
    """That the child's views were recorded (by the signed-in person), when, and where the record is
    kept. The views themselves never reach the gateway (there is no field for them)."""

    recorded: bool = Field(description="Must be true: the views were recorded.")
    recorded_at: AwareDatetime
    reference: Code


class ConsentCreate(PersonRecorded):
    subject_id: OpaqueId
    purpose: Purpose | None = None
    purposes: list[Purpose] | None = Field(default=None, max_length=10,
                                            description="Never accepted with more than one purpose (CR3).")
    recipients: list[RecipientIn] = Field(default_factory=list, max_length=20)
    scope: ScopeTier
    data_classes: list[DataClass] = Field(min_length=1, max_length=26)
    explained_items: list[ExplainedItem] = Field(default_factory=list, max_length=6)
    notice_version: Code | None = None
    language: LanguageTag
    interpreter: InterpreterIn | None = None
    channel: Channel
    capacity: CapacityStatus
    obtained_at: AwareDatetime | None = None
    expires_at: AwareDatetime
    guardian_consent: GuardianConsentIn | None = None
    child_views: ChildViewsIn | None = None
    cj_option: CJOption | None = None
    duty_to_share_acknowledged: list[AgencyKind] = Field(default_factory=list, max_length=20)
    supersedes: OpaqueId | None = None
    reissue_access_code: bool = False

    def all_purposes(self) -> list[Purpose]:
        return list(dict.fromkeys([*([self.purpose] if self.purpose else []), *(self.purposes or [])]))


class RecipientOut(BaseModel):
    agency_id: str
    name: str
    country: str | None
    organisation: str | None


class EndingOut(BaseModel):
    kind: str
    at: datetime
    by: str
    channel: str | None
    superseded_by: str | None


class ConsentOut(BaseModel):
    id: str
    lineage_id: str
    version: int
    supersedes: str | None
    subject_id: str
    status: str
    purpose: str
    recipients: list[RecipientOut]
    scope: str
    data_classes: list[str]
    explained_items: list[str]
    notice_version: str
    language: str
    interpreter: dict[str, Any] | None
    channel: str
    needs_confirmation: bool
    capacity: str
    obtained_by: dict[str, str]
    obtaining_agency_id: str
    obtained_at: datetime
    expires_at: datetime
    recorded_at: datetime
    recorded_for_child: bool
    guardian_consent: dict[str, Any] | None
    child_views: dict[str, Any] | None
    cj_option: str | None
    duty_to_share_acknowledged: list[str]
    ending: EndingOut | None

    @classmethod
    def of(cls, r: ConsentRecord, *, status: str, ending: ConsentEnding | None,
           names: dict[str, str]) -> ConsentOut:
        def recipient(c: ConsentRecipient) -> RecipientOut:
            return RecipientOut(agency_id=c.agency_id, name=names.get(c.agency_id, c.agency_id), country=c.country,
                                organisation=c.organisation)

        return cls(
            id=r.id, lineage_id=r.lineage_id, version=r.version, supersedes=r.supersedes_id, subject_id=r.subject_id,
            status=status, purpose=r.purpose, recipients=[recipient(c) for c in r.recipients], scope=r.scope,
            data_classes=list(r.data_classes), explained_items=list(r.explained_items),
            notice_version=r.notice_version, language=r.language,
            interpreter=None if r.interpreter_id is None else {
                "interpreter_id": r.interpreter_id, "relationship": r.interpreter_relationship,
                "vetted": r.interpreter_vetted},
            channel=r.channel, needs_confirmation=r.needs_confirmation, capacity=r.capacity,
            obtained_by={"staff_id": r.obtained_by, "role": r.obtained_by_role},
            obtaining_agency_id=r.obtaining_agency_id, obtained_at=r.obtained_at, expires_at=r.expires_at,
            recorded_at=r.recorded_at, recorded_for_child=r.recorded_for_child,
            guardian_consent=None if r.guardian_id is None else {
                "guardian_id": r.guardian_id, "given_at": r.guardian_consent_given_at},
            child_views=None if r.child_views_recorded_at is None else {
                "recorded": True, "recorded_by": r.child_views_recorded_by,
                "recorded_at": r.child_views_recorded_at, "reference": r.child_views_reference},
            cj_option=r.cj_option, duty_to_share_acknowledged=list(r.duty_to_share_acknowledged),
            ending=None if ending is None else EndingOut(
                kind=ending.kind, at=ending.at, by=ending.by_kind, channel=ending.channel,
                superseded_by=ending.superseded_by_id),
        )


class ConsentCreated(BaseModel):
    consent: ConsentOut
    receipt_id: str
    receipt: str
    """Compact JWS signed by the gateway (verify with /.well-known/jwks.json)."""
    card_url: str
    access_code: str | None
    """Shown once: on the subject's first card, or when reissued. Never stored in clear."""
    access_code_status: str
    """issued | reissued | existing"""
    superseded: str | None = None


class WithdrawIn(PersonRecorded):
    channel: Channel


class NoticeOut(BaseModel):
    kind: str
    rule: str
    details: dict[str, Any]


class WithdrawalOut(BaseModel):
    consent: ConsentOut
    receipt_id: str
    receipt: str
    card_url: str
    notices: list[NoticeOut]


class ReceiptOut(BaseModel):
    id: str
    consent_id: str
    kind: str
    issued_at: datetime
    receipt: str


class ConsentHistoryOut(BaseModel):
    lineage_id: str
    versions: list[ConsentOut]
    receipts: list[ReceiptOut]
