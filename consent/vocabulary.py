"""The closed vocabularies of consent records and subjects (seed digest §3, §5).

Every value here is a stable code shared with the Rego policies and the API; none of them
carries personal data, so codes may appear in audit entries and person notices.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    """One purpose per consent record (CR2, CR3)."""

    NRM_REFERRAL = "nrm_referral"
    PROTECTION_SUPPORT = "protection_support"
    CRIMINAL_JUSTICE = "criminal_justice"
    DATA_SHARING = "data_sharing"
    HEALTHCARE = "healthcare"
    SHELTER = "shelter"
    RETURN = "return"
    POST_RETURN_MONITORING = "post_return_monitoring"
    FILMING = "filming"
    FORENSIC = "forensic"
    RECORD_LINKAGE = "record_linkage"
    """Letting agencies learn which other agency may already know the person (linkage keys, issue 24)."""
    RESIDENCE_PERMIT = "residence_permit"
    ASYLUM_APPLICATION = "asylum_application"
    NON_PUNISHMENT = "non_punishment"
    COMPENSATION = "compensation"
    RESEARCH_STATISTICS = "research_statistics"
    OVERSIGHT_COMPLAINTS = "oversight_complaints"


class ScopeTier(StrEnum):
    """The three sharing tiers of seed 001 line 4100 (CR6)."""

    FULL = "full"
    RELEVANT_PORTION = "relevant_portion"
    CASE_SPECIFIC_NO_PERSONAL_DATA = "case_specific_no_personal_data"


class ExplainedItem(StrEnum):
    """What the person must have been told before the record is valid (CR5)."""

    REASON = "reason"
    STORAGE = "storage"
    ACCESS_TO_FILE = "access_to_file"
    RECIPIENTS = "recipients"
    SCOPE = "scope"
    DUTIES_TO_SHARE = "duties_to_share"


class Channel(StrEnum):
    """How the consent was given or withdrawn (CR13, CR14)."""

    IN_PERSON = "in_person"
    VIDEO = "video"
    PHONE = "phone"
    PORTAL = "portal"


class CapacityStatus(StrEnum):
    """Capacity for one decision type (CR10: assessed per decision)."""

    HAS_CAPACITY = "has_capacity"
    LACKING = "lacking"
    NOT_ASSESSED = "not_assessed"


class CJOption(StrEnum):
    """The three criminal-justice choices of seed 001 line 11303 (CR36)."""

    FORMAL_REPORT_AND_WITNESS = "formal_report_and_witness"
    ANONYMOUS_INTELLIGENCE_ONLY = "anonymous_intelligence_only"
    NONE = "none"


class InterpreterRelationship(StrEnum):
    """How the interpreter relates to the person; only ``professional`` is acceptable (CR9, S07)."""

    PROFESSIONAL = "professional"
    RELATIVE = "relative"
    FRIEND = "friend"
    ACQUAINTANCE = "acquaintance"
    ASSOCIATE = "associate"
    OTHER = "other"


class AgeBand(StrEnum):
    """Age bands for when no date of birth is known; none straddles 18 (CH1)."""

    AGE_0_11 = "0-11"
    AGE_12_15 = "12-15"
    AGE_16_17 = "16-17"
    AGE_18_24 = "18-24"
    AGE_25_34 = "25-34"
    AGE_35_49 = "35-49"
    AGE_50_PLUS = "50+"


CHILD_AGE_BANDS = frozenset({AgeBand.AGE_0_11, AgeBand.AGE_12_15, AgeBand.AGE_16_17})


class Sex(StrEnum):
    """Recorded sex, coarse, for anonymised statistics only (digest §6.6); policy never reads it."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class ExploitationType(StrEnum):
    """The main form of exploitation, coarse, for anonymised statistics only (digest §6.6)."""

    SEXUAL = "sexual"
    LABOUR = "labour"
    DOMESTIC_SERVITUDE = "domestic_servitude"
    CRIMINAL = "criminal"
    MULTIPLE = "multiple"
    OTHER = "other"


class AgeOutcome(StrEnum):
    """The outcome of an age assessment (CH1, CH21)."""

    CHILD = "child"
    ADULT = "adult"
    PENDING = "pending"


class NrmOutcome(StrEnum):
    """The outcome of a National Referral Mechanism decision (Stage 1 reasonable grounds, Stage 2
    conclusive grounds): the timers of digest S37/S38 and CH14 run from these."""

    POSITIVE = "positive"
    NEGATIVE = "negative"


class AppealStatus(StrEnum):
    """Where appeals against an age assessment stand (CH1b)."""

    NONE = "none"
    PENDING = "pending"
    EXHAUSTED = "exhausted"


class ContactSafety(StrEnum):
    """Whether reaching the person through their contact channels (D3) is safe (digest 8.2 item 12,
    SEC12, S40; seed 001 lines 18590, 18604). Only ``verified_safe`` lets a channel go; unrecorded
    is treated as unverified."""

    VERIFIED_SAFE = "verified_safe"
    UNVERIFIED = "unverified"
    THIRD_PARTY_ACCESS = "third_party_access"
    """Owned by or accessible to someone else (a trafficker, an employer, a partner)."""


class CJRole(StrEnum):
    """The person's role in criminal proceedings (D17, D18)."""

    NONE = "none"
    INFORMANT = "informant"
    WITNESS = "witness"
    SUSPECT = "suspect"
    DEFENDANT = "defendant"


class ChangeReason(StrEnum):
    """Why a subject attribute changed: a code, never narrative."""

    INITIAL_RECORD = "initial_record"
    CORRECTION = "correction"
    NEW_INFORMATION = "new_information"
    AGE_ASSESSMENT = "age_assessment"
    AGE_APPEAL = "age_appeal"
    GUARDIAN_CHANGE = "guardian_change"
    SAFEGUARDING_CONCERN = "safeguarding_concern"
    CAPACITY_ASSESSMENT = "capacity_assessment"
    CASE_UPDATE = "case_update"
    PLACEMENT_CHANGE = "placement_change"
    PERSON_REQUEST = "person_request"
    NRM_DECISION = "nrm_decision"


class EndingKind(StrEnum):
    """Why a consent record stopped being in force. At most one ending per record."""

    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"


class ActorKind(StrEnum):
    """Who acted: the person themself (portal), an agency's staff, or the gateway."""

    PERSON = "person"
    AGENCY = "agency"
    SYSTEM = "system"


class NoticeKind(StrEnum):
    """Kinds of notices the person sees in the portal."""

    CONSENT_NEEDED = "consent_needed"
    RECIPIENT_ADDED = "recipient_added"
    CONSENT_GRANTED = "consent_granted"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    EXCEPTION_USED = "exception_used"
    NOTICE_DEFERRED = "notice_deferred"
    INVESTIGATION_MAY_CONTINUE = "investigation_may_continue"


#: Data classes D1-D26 of seed digest §2.
DATA_CLASSES: tuple[str, ...] = tuple(f"D{n}" for n in range(1, 27))

#: Purposes whose consent, for a child, needs the guardian's consent and the child's recorded
#: views (CH6: "all legal actions ... require informed consent of the legal guardian ... with the
#: child's informed participation"; CH9). Protection, shelter and healthcare are left out: CH13
#: makes referral to child protection independent of consent, and a child's access to shelter or
#: care must never wait on a guardian who may be absent or suspected (T5).
LEGAL_CONSEQUENCE_PURPOSES = frozenset({
    Purpose.NRM_REFERRAL,
    Purpose.CRIMINAL_JUSTICE,
    Purpose.DATA_SHARING,
    Purpose.RETURN,
    Purpose.POST_RETURN_MONITORING,
    Purpose.FILMING,
    Purpose.FORENSIC,
    Purpose.RESIDENCE_PERMIT,  # an asylum or residence application is a legal action (issue 21)
    Purpose.ASYLUM_APPLICATION,
    Purpose.NON_PUNISHMENT,
    Purpose.COMPENSATION,
})

#: Purposes for which a consent given by phone is flagged for confirmation (CR13).
HIGH_IMPACT_PURPOSES = frozenset({Purpose.CRIMINAL_JUSTICE, Purpose.RETURN, Purpose.FILMING})
