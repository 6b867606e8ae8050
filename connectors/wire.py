"""Typed request and response bodies of the gateway API (TypedDicts), generated from its OpenAPI
document by ``python -m tests.support.wire_types``: do not edit by hand."""
from __future__ import annotations

# ruff: noqa

from typing import Any, Literal, NotRequired, TypeAlias

from typing_extensions import TypedDict

Role: TypeAlias = str


class AccountIn(TypedDict, closed=True):
    roles: list[Role]
    username: NotRequired[str | None]


class AcknowledgementOut(TypedDict, closed=True):
    acknowledged_at: str | None
    envelope_id: str
    status: str


class ActorOut(TypedDict):
    agency_id: str | None
    role: str | None
    user: str | None


AgeBand: TypeAlias = Literal['0-11', '12-15', '16-17', '18-24', '25-34', '35-49', '50+']


AgeOutcome: TypeAlias = Literal['child', 'adult', 'pending']


AgencyKind: TypeAlias = Literal[
    'iom',
    'unhcr',
    'police',
    'police_focal_point',
    'prosecutor',
    'court',
    'immigration',
    'competent_authority',
    'shelter',
    'ngo',
    'healthcare',
    'therapy',
    'legal_aid',
    'child_protection',
    'guardian_advocate_service',
    'independent_advocate',
    'embassy',
    'country_of_origin_authority',
    'media',
    'rapporteur',
    'monitoring_body',
    'missing_persons',
    'gateway_operator',
]


class AgencyNoticeOut(TypedDict, closed=True):
    created_at: str
    details: dict[str, Any]
    id: str
    kind: str
    subject_id: str


class AlertOut(TypedDict):
    code: str
    id: str
    raised_at: str
    subject_id: str


class AlertsOut(TypedDict):
    alerts: list[AlertOut]


class AnswerBody(TypedDict, closed=True):
    pass


AppealStatus: TypeAlias = Literal['none', 'pending', 'exhausted']


class AttributeChangeOut(TypedDict):
    attribute: str
    changed_at: str
    changed_by: str | None
    changed_by_agency_id: str | None
    id: str
    new_value: Any
    old_value: Any
    reason: str


class AuthorizationServerOut(TypedDict, closed=True):
    grant_types_supported: list[str]
    issuer: str
    jwks_uri: str
    token_endpoint: str
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]


class BestInterestsBody(TypedDict, closed=True):
    decision_code: str
    reference: str


class BestInterestsOut(TypedDict, closed=True):
    decision_code: str
    id: str
    recorded_at: str
    reference: str
    subject_id: str


class BindingIn(TypedDict, closed=True):
    binding: dict[str, Any]
    signature: str


CJOption: TypeAlias = Literal['formal_report_and_witness', 'anonymous_intelligence_only', 'none']


CJRole: TypeAlias = Literal['none', 'informant', 'witness', 'suspect', 'defendant']


CapacityStatus: TypeAlias = Literal['has_capacity', 'lacking', 'not_assessed']


ChangeReason: TypeAlias = Literal[
    'initial_record',
    'correction',
    'new_information',
    'age_assessment',
    'age_appeal',
    'guardian_change',
    'safeguarding_concern',
    'capacity_assessment',
    'case_update',
    'placement_change',
    'person_request',
    'nrm_decision',
]


Channel: TypeAlias = Literal['in_person', 'video', 'phone', 'portal']


class CheckpointOut(TypedDict):
    key_id: str
    origin: str
    root_hash: str
    signature: str
    timestamp: str
    tree_size: int
    type: str


class ChildViewsIn(TypedDict, closed=True):
    recorded: bool
    recorded_at: str
    reference: str


DataClass: TypeAlias = str


class ConsistencyProofOut(TypedDict):
    first: int
    proof: list[str]
    second: int


ContactSafety: TypeAlias = Literal['verified_safe', 'unverified', 'third_party_access']


class CosignaturesOut(TypedDict, closed=True):
    witnesses: list[str]


class DecisionBasis(TypedDict, closed=True):
    consent_ids: list[str]
    exception: str | None


DeclineReason: TypeAlias = Literal[
    'not_held', 'not_our_case', 'person_declined', 'no_lawful_basis', 'safety_risk', 'duplicate'
]


DeferReason: TypeAlias = Literal['covert_investigation']


class DeferralMaximumIn(TypedDict, closed=True):
    deferral_max_days: int | None


class DeferralMaximumOut(TypedDict, closed=True):
    agency_id: str
    deferral_max_days: int | None
    legal_max_days: int


class DeniedField(TypedDict, closed=True):
    field: str
    reason: str


class EndingOut(TypedDict):
    at: str
    by: str
    channel: str | None
    kind: str
    superseded_by: str | None


class EndpointCreate(TypedDict, closed=True):
    url: str


class EndpointOut(TypedDict):
    agency_id: str
    created_at: str
    fingerprint: str
    id: str
    revoked_at: str | None
    status: str
    url: str
    verified_at: str | None


class EntryOut(TypedDict):
    action: str
    actor: ActorOut
    at: str
    basis: dict[str, Any]
    classes_released: list[str]
    classes_requested: list[str]
    decision: str
    details: dict[str, Any]
    entry_id: str
    leaf_hash: str
    policy_version: str | None
    purpose: str | None
    reason: str | None
    recipient_agency_id: str | None
    request_id: str | None
    seq: int
    subject_id: str | None


class EntryPage(TypedDict):
    entries: list[EntryOut]
    next_after: int | None


class EnvelopeOut(TypedDict, closed=True):
    ciphertexts: dict[str, str]
    created_at: str
    envelope_id: str
    manifest: dict[str, Any]
    purpose: str
    sender_agency_id: str
    sender_key_id: str
    signature: str
    status: str
    subject_id: str


class EpochBody(TypedDict, closed=True):
    epoch: str


class ExceptionPolicyEntry(TypedDict, closed=True):
    basis: str
    scenarios: list[str]


ExplainedItem: TypeAlias = Literal['reason', 'storage', 'access_to_file', 'recipients', 'scope', 'duties_to_share']


class ExplanationBody(TypedDict, closed=True):
    given_at: str
    language: str
    policy_version: str
    subject_id: str


class ExplanationOut(TypedDict, closed=True):
    agency_id: str
    given_at: str
    id: str
    language: str
    policy_version: str
    subject_id: str


ExploitationType: TypeAlias = Literal['sexual', 'labour', 'domestic_servitude', 'criminal', 'multiple', 'other']


class FingerprintReadBack(TypedDict, closed=True):
    fingerprint: str


Class: TypeAlias = str


Field: TypeAlias = str


class GrantBody(TypedDict, closed=True):
    basis: str
    best_interests_ref: NotRequired[str | None]
    classes: list[Class]
    defer_reason: NotRequired[DeferReason | None]
    defer_until: NotRequired[str | None]
    fields: NotRequired[list[Field]]
    justification_code: str
    justification_ref: str
    purpose: str
    recipient_agency_id: str
    scenario: str
    subject_id: str
    ttl_s: NotRequired[int]


class GrantOut(TypedDict, closed=True):
    agency_id: str
    approved_at: str | None
    approved_by: str | None
    basis: str
    best_interests_ref: str | None
    classes: list[str]
    defer_reason: str | None
    defer_until: str | None
    expires_at: str
    fields: list[str]
    id: str
    justification_code: str
    justification_ref: str
    purpose: str
    recipient_agency_id: str
    requested_at: str
    requested_by: str
    scenario: str
    status: str
    subject_id: str
    used_at: str | None
    used_envelope_id: str | None


class GuardianConsentIn(TypedDict, closed=True):
    given_at: str
    guardian_id: str


class HealthOut(TypedDict, closed=True):
    status: str


class InclusionProofOut(TypedDict):
    checkpoint: NotRequired[CheckpointOut | None]
    leaf_hash: str
    proof: list[str]
    root_hash: str
    seq: int
    tree_size: int


class InformationRequestOut(TypedDict, closed=True):
    basis: str
    closed_at: str | None
    created_at: str
    decline_reason: str | None
    due_at: str | None
    envelope_id: str | None
    fields: list[str]
    holder_agency_id: str
    id: str
    overdue: bool
    plan_id: NotRequired[str | None]
    purpose: str
    refusal_reasons: list[str] | None
    requester_agency_id: str
    status: str
    subject_ref: str
    urgency: str


Interpreter: TypeAlias = Literal['none', 'child_specialist', 'general']


InterpreterRelationship: TypeAlias = Literal['professional', 'relative', 'friend', 'acquaintance', 'associate', 'other']


InterviewKind: TypeAlias = Literal[
    'investigative_interview', 'age_assessment', 'substantive_assessment', 'best_interests_assessment'
]


class InterviewOut(TypedDict, closed=True):
    guardian_advocate_id: str | None
    id: str
    interpreter: str
    kind: str
    parent_attending: bool
    scheduled_for: str


class JwksOut(TypedDict, closed=True):
    keys: list[dict[str, Any]]


class KeyBody(TypedDict, closed=True):
    check_value: str
    clk: str
    epoch: str
    version: str


KeyKind: TypeAlias = Literal['x25519', 'ed25519']


class KeyOut(TypedDict):
    agency_id: str
    created_at: str
    fingerprint: str
    id: str
    kind: str
    public_key: str
    revoked_at: str | None
    status: str
    verified_at: str | None


class KeyProofOut(TypedDict):
    checkpoint: str
    events: list[dict[str, Any]]
    key: KeyOut
    tree_size: int


class LinkageEpochOut(TypedDict, closed=True):
    epoch: str
    keys_deleted: int
    retired: list[str]
    started_at: str
    status: str


class LinkageKeyOut(TypedDict, closed=True):
    enrolled_at: str
    epoch: str
    replaced: bool
    subject_id: str


class LinkageMatchFound(TypedDict, closed=True):
    agency_id: str
    band: str
    match_id: str
    next_steps: list[str]
    strength: float


class LinkageMatchOut(TypedDict, closed=True):
    asking_agency_id: NotRequired[str | None]
    created_at: str
    holding_agency_id: NotRequired[str | None]
    match_id: str
    role: str
    strength: float
    subject_id: str


class LinkageQueryOut(TypedDict, closed=True):
    epoch: str
    matches: list[LinkageMatchFound]
    query_id: str
    subject_id: str


class MandatedNoticeIn(TypedDict, closed=True):
    given_at: str
    language: str
    notice_version: str


class MandatedNoticeOut(TypedDict):
    agency_id: str
    given_at: str
    given_by: str
    id: str
    language: str
    notice_version: str
    recorded_at: str
    subject_id: str


class NoticeSentOut(TypedDict, closed=True):
    agency_id: str
    classes: list[str]
    notice_id: str


NrmOutcome: TypeAlias = Literal['positive', 'negative']


class Obligations(TypedDict, closed=True):
    expires_at: str | None
    include_risk_summary: bool
    notify_person: bool
    person_preview_required: bool
    second_approver_required: bool


class OpenCase(TypedDict, closed=True):
    recipient_agency_id: str


class OrderBody(TypedDict, closed=True):
    classes: NotRequired[list[Class]]
    days: NotRequired[int | None]
    kind: str
    recipient_agency_id: NotRequired[str | None]
    reference: str


class OrderOut(TypedDict, closed=True):
    classes: list[str]
    created_at: str
    ends_at: str | None
    id: str
    kind: str
    lifted_at: str | None
    recipient_agency_id: str | None


class OutboxOut(TypedDict, closed=True):
    acknowledged_at: str | None
    created_at: str
    delivered_at: str | None
    envelope_id: str
    expires_at: str
    recipient_agency_id: str
    status: str


class PersonOut(TypedDict, closed=True):
    account_id: str
    policy_role: str | None
    roles: list[str]


class PinIn(TypedDict, closed=True):
    duress_pin: NotRequired[str | None]
    pin: str


class PlanBody(TypedDict, closed=True):
    exception_grant_id: NotRequired[str | None]
    fields: list[Field]
    purpose: str
    recipient_agency_id: str
    subject_id: str


class PlanOut(TypedDict, closed=True):
    allow: bool
    basis: DecisionBasis
    denied_fields: list[DeniedField]
    envelope_id: str | None
    expires_at: str | None
    explanation: list[str]
    obligations: Obligations
    permitted_fields: list[str]
    plan_id: str | None
    policy_version: str
    purpose: str
    reasons: list[str]
    recipient_agency_id: str
    subject_id: str
    warnings: NotRequired[list[str]]


class PlansNeedPersonIn(TypedDict, closed=True):
    required: bool


class PlansNeedPersonOut(TypedDict, closed=True):
    agency_id: str
    plans_need_person: bool


class PortalAccessOut(TypedDict):
    duress_pin_set: bool
    failed_attempts: int
    locator: str
    locked: bool
    locked_at: str | None
    pin_needs_change: bool
    pin_set: bool
    pin_set_at: str | None
    subject_id: str


class PreviewApprovalBody(TypedDict, closed=True):
    channel: str
    preview_hash: str


class PreviewApprovalOut(TypedDict, closed=True):
    approved_at: str
    plan_id: str
    preview_hash: str


class Error(TypedDict):
    loc: NotRequired[list[str]]
    msg: NotRequired[str]
    type: NotRequired[str]


class Problem(TypedDict):
    detail: str
    error: NotRequired[str]
    error_description: NotRequired[str]
    errors: NotRequired[list[Error]]
    instance: NotRequired[str]
    reason: str
    request_id: NotRequired[str | None]
    status: int
    title: str
    type: str


Purpose: TypeAlias = Literal[
    'nrm_referral',
    'protection_support',
    'criminal_justice',
    'data_sharing',
    'healthcare',
    'shelter',
    'return',
    'post_return_monitoring',
    'filming',
    'forensic',
    'record_linkage',
    'residence_permit',
    'asylum_application',
    'non_punishment',
    'compensation',
    'research_statistics',
    'oversight_complaints',
]


class QueryBody(TypedDict, closed=True):
    subject_id: str


class ReadinessChecks(TypedDict, closed=True):
    database: bool
    policy_engine: bool


class ReadinessOut(TypedDict, closed=True):
    checks: ReadinessChecks
    status: str


class ReceiptOut(TypedDict):
    consent_id: str
    id: str
    issued_at: str
    kind: str
    receipt: str


class RecipientIn(TypedDict, closed=True):
    agency_id: str
    country: NotRequired[str | None]
    organisation: NotRequired[str | None]


class RecipientKeyOut(TypedDict):
    agency_id: str
    fingerprint: str
    key_id: str
    kind: str
    public_key: str


class RecipientOut(TypedDict):
    agency_id: str
    country: str | None
    name: str
    organisation: str | None


class RequestBody(TypedDict, closed=True):
    basis: str
    fields: list[Field]
    holder_agency_id: str
    purpose: str
    respond_by: NotRequired[str | None]
    subject_ref: str
    urgency: NotRequired[Literal['urgent', 'medium', 'low']]


class ReviewNotice(TypedDict, closed=True):
    agency_id: str
    kind: str


class ReviewOut(TypedDict, closed=True):
    last_verified_at: str


class Revocation(TypedDict, closed=True):
    reason: str


class RevocationIn(TypedDict, closed=True):
    revocation: dict[str, Any]
    signature: str


class ScheduledInterviewOut(TypedDict, closed=True):
    guardian_advocate_id: str | None
    id: str
    interpreter: str
    kind: str
    parent_attending: bool
    scheduled_for: str
    subject_id: str


ScopeTier: TypeAlias = Literal['full', 'relevant_portion', 'case_specific_no_personal_data']


class SealBody(TypedDict, closed=True):
    classes: NotRequired[list[Class]]
    kind: str
    reference: str


class SealOut(TypedDict, closed=True):
    notices: list[NoticeSentOut]
    order: OrderOut


Sex: TypeAlias = Literal['female', 'male', 'other']


class SignedBinding(TypedDict, closed=True):
    binding: dict[str, Any]
    signature: str


class StaffAccountOut(TypedDict, closed=True):
    account_id: str
    agency_id: str | None
    created_at: str
    passkeys: int
    roles: list[str]
    status: str
    username: str


class StaffRolesOut(TypedDict, closed=True):
    entitlements: dict[str, list[str]]
    roles: list[str]


class StatisticsDefaultsOut(TypedDict, closed=True):
    budget_per_year: int | float
    delta: int | float
    epsilon: int | float
    k: int
    max_cells: int
    max_contributions: int


class StatisticsDimensionOut(TypedDict, closed=True):
    label: str
    sources: list[str]
    values: list[str]


class StatisticsReleaseOut(TypedDict, closed=True):
    release: dict[str, Any]
    signature: str


class StatisticsTableOut(TypedDict, closed=True):
    dimensions: list[str]
    granularity: str
    period_from: str
    period_to: str
    source: str


class SubjectAttributesIn(TypedDict, closed=True):
    age_appeal_status: NotRequired[AppealStatus | None]
    age_assessment_outcome: NotRequired[AgeOutcome | None]
    age_band: NotRequired[AgeBand | None]
    age_disputed: NotRequired[bool | None]
    asylum_claimed: NotRequired[bool | None]
    capacity: NotRequired[dict[Purpose, CapacityStatus] | None]
    cj_role: NotRequired[CJRole | None]
    contact_safety: NotRequired[ContactSafety | None]
    country_of_origin: NotRequired[str | None]
    date_of_birth: NotRequired[str | None]
    declined_nrm: NotRequired[bool | None]
    declined_protection: NotRequired[bool | None]
    exploitation_type: NotRequired[ExploitationType | None]
    guardian_advocate_agency_id: NotRequired[str | None]
    guardian_advocate_id: NotRequired[str | None]
    guardian_suspected: NotRequired[bool | None]
    nrm_referred_at: NotRequired[str | None]
    open_cases: NotRequired[list[OpenCase] | None]
    parental_guardian_id: NotRequired[str | None]
    placement_agency_id: NotRequired[str | None]
    possible_refugee: NotRequired[bool | None]
    preferred_language: NotRequired[str | None]
    sex: NotRequired[Sex | None]
    stage1_decided_at: NotRequired[str | None]
    stage1_outcome: NotRequired[NrmOutcome | None]
    stage2_decided_at: NotRequired[str | None]
    stage2_outcome: NotRequired[NrmOutcome | None]


class SubjectCreate(TypedDict, closed=True):
    attributes: NotRequired[SubjectAttributesIn]
    mandated_reporter_notice: NotRequired[MandatedNoticeIn | None]


class SubjectOut(TypedDict):
    adult_on: str | None
    age_appeal_status: str
    age_assessment_outcome: str | None
    age_band: str | None
    age_disputed: bool
    asylum_claimed: bool
    capacity: dict[str, str]
    cj_role: str
    contact_safety: NotRequired[str | None]
    country_of_origin: str | None
    created_at: str
    declined_nrm: bool
    declined_protection: NotRequired[bool]
    exploitation_type: NotRequired[str | None]
    guardian_advocate_agency_id: str | None
    guardian_advocate_id: str | None
    guardian_suspected: bool
    id: str
    is_child: bool
    nrm_referred_at: str | None
    open_cases: list[dict[str, str]]
    owner_agency_id: str
    parental_guardian_id: str | None
    placement_recorded: bool
    possible_refugee: bool
    preferred_language: str | None
    sex: NotRequired[str | None]
    stage1_decided_at: str | None
    stage1_outcome: str | None
    stage2_decided_at: str | None
    stage2_outcome: str | None


class SubmissionOut(TypedDict, closed=True):
    envelope_id: str
    expires_at: str
    plan_id: str
    policy_version: str
    recipient_agency_id: str
    status: str


class SubmitBody(TypedDict, closed=True):
    ciphertexts: dict[str, str]
    endpoint_id: NotRequired[str | None]
    exception_grant_id: NotRequired[str | None]
    manifest: dict[str, Any]
    plan_id: str
    signature: str


Dimension: TypeAlias = str


class TableBody(TypedDict, closed=True):
    dimensions: list[Dimension]
    epsilon: NotRequired[float | None]
    granularity: NotRequired[str]
    period_from: str
    period_to: str
    source: str


class TokenRequest(TypedDict):
    client_assertion: str
    client_assertion_type: Literal['urn:ietf:params:oauth:client-assertion-type:jwt-bearer']
    client_id: NotRequired[str]
    grant_type: Literal['client_credentials']
    scope: NotRequired[str]


class TokenResponse(TypedDict):
    access_token: str
    expires_in: int
    scope: str
    token_type: Literal['Bearer']


class WarningOut(TypedDict, closed=True):
    created_at: str
    due_at: str
    id: str
    kind: str
    subject_id: str


class WhoAmIOut(TypedDict, closed=True):
    agency_id: str
    person: PersonOut | None


class WithdrawIn(TypedDict, closed=True):
    channel: Channel


class GatewayConsentApiSchemasNoticeOut(TypedDict):
    details: dict[str, Any]
    kind: str
    rule: str


class GatewayRegistryKeyRoutesEnrolmentOut(TypedDict):
    enrolment_id: str
    secret: str


class GatewayResponsesEnrolmentOut(TypedDict, closed=True):
    account_id: str
    enrolment_code: str
    enrolment_path: str
    expires_at: str
    username: str


class GatewayRetentionRoutesNoticeOut(TypedDict, closed=True):
    acknowledged_at: str | None
    notice: dict[str, Any]
    overdue: bool
    signature: str


class AgencyCreate(TypedDict, closed=True):
    confidentiality_policy_version: NotRequired[str | None]
    exception_policy: NotRequired[list[ExceptionPolicyEntry]]
    id: str
    jurisdiction: str
    kind: AgencyKind
    mandated_reporter: NotRequired[bool]
    name: str
    represents_state: NotRequired[str | None]
    statutory_duties: NotRequired[list[AgencyKind]]
    vetted: NotRequired[bool]


class AgencyOut(TypedDict):
    confidentiality_policy_version: str | None
    endpoints: NotRequired[list[EndpointOut] | None]
    exception_policy: list[dict[str, Any]]
    id: str
    jurisdiction: str
    keys: list[KeyOut]
    kind: str
    mandated_reporter: bool
    name: str
    represents_state: str | None
    statutory_duties: list[str]
    vetted_at: str | None
    vetting_status: str


class AttributeChangeIn(TypedDict, closed=True):
    changes: SubjectAttributesIn
    reason: ChangeReason


class ChildReviewOut(TypedDict, closed=True):
    child: bool
    notices: list[ReviewNotice]
    subject_id: str


class ConsentOut(TypedDict):
    capacity: str
    channel: str
    child_views: dict[str, Any] | None
    cj_option: str | None
    data_classes: list[str]
    duty_to_share_acknowledged: list[str]
    ending: EndingOut | None
    expires_at: str
    explained_items: list[str]
    guardian_consent: dict[str, Any] | None
    id: str
    interpreter: dict[str, Any] | None
    language: str
    lineage_id: str
    needs_confirmation: bool
    notice_version: str
    obtained_at: str
    obtained_by: dict[str, str]
    obtaining_agency_id: str
    purpose: str
    recipients: list[RecipientOut]
    recorded_at: str
    recorded_for_child: bool
    scope: str
    status: str
    subject_id: str
    supersedes: str | None
    version: int


class DeclineBody(TypedDict, closed=True):
    reason: DeclineReason


class EnrolmentIn(TypedDict, closed=True):
    bindings: list[SignedBinding]
    secret: str


class ErasureOut(TypedDict, closed=True):
    deleted: dict[str, int]
    erased: bool
    notices: list[NoticeSentOut]


class InterpreterIn(TypedDict, closed=True):
    interpreter_id: str
    relationship: InterpreterRelationship
    vetted: bool


class InterviewBody(TypedDict, closed=True):
    guardian_advocate_briefed: NotRequired[bool]
    guardian_advocate_id: NotRequired[str | None]
    interpreter: NotRequired[Interpreter]
    kind: InterviewKind
    parent_attending: NotRequired[bool]
    parent_safety_ref: NotRequired[str | None]
    scheduled_for: str


class KeyCreate(TypedDict, closed=True):
    kind: KeyKind
    public_key: str


class StatisticsCatalogueOut(TypedDict, closed=True):
    defaults: StatisticsDefaultsOut
    dimensions: dict[str, StatisticsDimensionOut]
    granularities: list[str]
    sources: dict[str, list[str]]


class StatisticsCostOut(TypedDict, closed=True):
    affordable: bool
    budget_left_after: dict[str, int | float]
    budget_left_before: dict[str, int | float]
    budget_years: list[str]
    cells: int
    delta: int | float
    epsilon: int | float
    expected_error: str
    expected_error_95: int | float
    k: int
    noise_scale: int | float
    privacy_unit: str
    sensitivity: int
    table: StatisticsTableOut


class WithdrawalOut(TypedDict):
    card_url: str
    consent: ConsentOut
    notices: list[GatewayConsentApiSchemasNoticeOut]
    receipt: str
    receipt_id: str


class ConsentCreate(TypedDict, closed=True):
    capacity: CapacityStatus
    channel: Channel
    child_views: NotRequired[ChildViewsIn | None]
    cj_option: NotRequired[CJOption | None]
    data_classes: list[DataClass]
    duty_to_share_acknowledged: NotRequired[list[AgencyKind]]
    expires_at: str
    explained_items: NotRequired[list[ExplainedItem]]
    guardian_consent: NotRequired[GuardianConsentIn | None]
    interpreter: NotRequired[InterpreterIn | None]
    language: str
    notice_version: NotRequired[str | None]
    obtained_at: NotRequired[str | None]
    purpose: NotRequired[Purpose | None]
    purposes: NotRequired[list[Purpose] | None]
    recipients: NotRequired[list[RecipientIn]]
    reissue_access_code: NotRequired[bool]
    scope: ScopeTier
    subject_id: str
    supersedes: NotRequired[str | None]


class ConsentCreated(TypedDict):
    access_code: str | None
    access_code_status: str
    card_url: str
    consent: ConsentOut
    receipt: str
    receipt_id: str
    superseded: NotRequired[str | None]


class ConsentHistoryOut(TypedDict):
    lineage_id: str
    receipts: list[ReceiptOut]
    versions: list[ConsentOut]