"""The shapes of the API's success answers, for ``response_model``: typed in the OpenAPI document and
unchanged on the wire.

A handler returns plain dicts; these models describe them. :data:`Stamp` keeps a timestamp as the
handler's ``isoformat()`` (``+00:00``, as FastAPI's encoder wrote it before the model), not
pydantic's ``Z``, so a client parsing the old answers parses the typed ones.

A key a handler returns that its model does not declare is *drift*. With ``GATEWAY_STRICT_ANSWERS=1``
(the test suite sets it) drift fails validation, so a test catches it; in production the key is
dropped from the answer and the drift is logged (the model and the key names, never a value), so a
person gets their answer instead of a 500 and the undeclared key never reaches the wire.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema, model_validator

log = logging.getLogger("gateway.responses")
STRICT_ENV = "GATEWAY_STRICT_ANSWERS"
_KEY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")

Stamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
                  WithJsonSchema({"type": "string", "format": "date-time"})]
"""A timestamp as ``datetime.isoformat()``."""


def strict_answers() -> bool:
    """Whether an undeclared key fails the answer (tests) rather than being dropped and logged."""
    return os.environ.get(STRICT_ENV, "") == "1"


def drifted_keys(model: type[BaseModel], data: dict[Any, Any]) -> list[str]:
    """The keys of ``data`` that ``model`` does not declare, as loggable names (never values)."""
    declared = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return sorted(k if isinstance(k, str) and _KEY_NAME.match(k) else "<unprintable key>"
                  for k in data if k not in declared)


class Answer(BaseModel):
    """A success answer: the handler's dict, validated and written as it was, declared keys only."""

    # Undeclared keys never reach the wire (dropped, or refused in tests): the document says so.
    model_config = ConfigDict(extra="ignore", from_attributes=False, json_schema_extra={"additionalProperties": False})

    @model_validator(mode="before")
    @classmethod
    def _no_drift(cls, data: Any) -> Any:
        if isinstance(data, dict):
            extra = drifted_keys(cls, data)
            if extra and strict_answers():
                raise ValueError(f"{cls.__name__} does not declare {', '.join(extra)}")
            if extra:
                log.warning("response drift: %s does not declare %s; dropped from the answer",
                            cls.__name__, ", ".join(extra))
        return data


class DeniedField(Answer):
    field: str
    reason: str


class DecisionBasis(Answer):
    consent_ids: list[str]
    exception: str | None


class Obligations(Answer):
    include_risk_summary: bool
    person_preview_required: bool
    notify_person: bool
    second_approver_required: bool
    expires_at: str | None


class PlanOut(Answer):
    """The policy's decision on a plan; ``plan_id``/``envelope_id``/``expires_at`` only when allowed."""

    plan_id: str | None
    envelope_id: str | None
    expires_at: Stamp | None
    subject_id: str
    recipient_agency_id: str
    purpose: str
    allow: bool
    permitted_fields: list[str]
    denied_fields: list[DeniedField]
    reasons: list[str]
    basis: DecisionBasis
    obligations: Obligations
    policy_version: str
    explanation: list[str]
    warnings: list[str] = []
    """For the sender: ``key_details_stale`` when permitted key details (D1-D4) were not re-checked within the
    review period (issue 22)."""


class PreviewApprovalOut(Answer):
    plan_id: str
    preview_hash: str
    approved_at: Stamp


class EnvelopeOut(Answer):
    """An envelope as its recipient receives it: the signed manifest and ciphertexts (base64url)."""

    envelope_id: str
    sender_agency_id: str
    sender_key_id: str
    subject_id: str
    purpose: str
    created_at: str
    status: str
    manifest: dict[str, Any]
    signature: str
    ciphertexts: dict[str, str]


class AcknowledgementOut(Answer):
    envelope_id: str
    status: str
    acknowledged_at: str | None


class OutboxOut(Answer):
    envelope_id: str
    status: str
    recipient_agency_id: str
    created_at: str
    delivered_at: str | None
    acknowledged_at: str | None
    expires_at: str


class GrantOut(Answer):
    """An exception grant (L-basis sharing without consent), requested and approved by two people."""

    id: str
    agency_id: str
    subject_id: str
    basis: str
    scenario: str
    justification_code: str
    justification_ref: str
    recipient_agency_id: str
    purpose: str
    classes: list[str]
    fields: list[str]
    status: str
    requested_by: str
    requested_at: Stamp
    approved_by: str | None
    approved_at: Stamp | None
    expires_at: Stamp
    used_at: Stamp | None
    used_envelope_id: str | None
    best_interests_ref: str | None
    defer_until: Stamp | None
    defer_reason: str | None


class ExplanationOut(Answer):
    id: str
    subject_id: str
    agency_id: str
    given_at: Stamp
    policy_version: str
    language: str


class AgencyNoticeOut(Answer):
    id: str
    subject_id: str
    kind: str
    details: dict[str, Any]
    created_at: Stamp


class BestInterestsOut(Answer):
    id: str
    subject_id: str
    reference: str
    decision_code: str
    recorded_at: Stamp


class ReviewNotice(Answer):
    agency_id: str
    kind: str


class ChildReviewOut(Answer):
    subject_id: str
    child: bool
    notices: list[ReviewNotice]


class InterviewOut(Answer):
    id: str
    kind: str
    scheduled_for: Stamp
    guardian_advocate_id: str | None
    parent_attending: bool
    interpreter: str


class ScheduledInterviewOut(Answer):
    id: str
    subject_id: str
    kind: str
    scheduled_for: Stamp
    guardian_advocate_id: str | None
    parent_attending: bool
    interpreter: str


class SubmissionOut(Answer):
    """A stored envelope (a retry with the same Idempotency-Key gets the same answer)."""

    envelope_id: str
    status: str
    plan_id: str
    recipient_agency_id: str
    expires_at: str
    policy_version: str


class HealthOut(Answer):
    status: str


class ReadinessChecks(Answer):
    database: bool
    policy_engine: bool


class ReadinessOut(Answer):
    status: str
    checks: ReadinessChecks


class JwksOut(Answer):
    """The gateway's public keys as JWKs (RFC 7517)."""

    keys: list[dict[str, Any]]


class AuthorizationServerOut(Answer):
    """OAuth 2.0 authorization server metadata (RFC 8414)."""

    issuer: str
    token_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    jwks_uri: str


class InformationRequestOut(Answer):
    """An information request; ``plan_id`` is shown to the holder only (absent for the requester)."""

    id: str
    requester_agency_id: str
    holder_agency_id: str
    subject_ref: str
    purpose: str
    fields: list[str]
    basis: str
    urgency: str
    status: str
    created_at: Stamp
    due_at: Stamp | None
    overdue: bool
    closed_at: Stamp | None
    decline_reason: str | None
    refusal_reasons: list[str] | None
    envelope_id: str | None
    plan_id: str | None = None


class StaffRolesOut(Answer):
    roles: list[str]
    entitlements: dict[str, list[str]]


class PersonOut(Answer):
    account_id: str
    roles: list[str]
    policy_role: str | None


class WhoAmIOut(Answer):
    agency_id: str
    person: PersonOut | None


class StaffAccountOut(Answer):
    account_id: str
    username: str
    agency_id: str | None
    roles: list[str]
    status: str
    passkeys: int
    created_at: Stamp


class EnrolmentOut(Answer):
    """A one-time enrolment code for the person to set up their passkey and one-time-code app."""

    account_id: str
    username: str
    enrolment_code: str
    enrolment_path: str
    expires_at: Stamp


class PlansNeedPersonOut(Answer):
    agency_id: str
    plans_need_person: bool


class DeferralMaximumOut(Answer):
    agency_id: str
    deferral_max_days: int | None
    legal_max_days: int


class LinkageKeyOut(Answer):
    subject_id: str
    epoch: str
    enrolled_at: str
    replaced: bool


class LinkageMatchFound(Answer):
    """A possible match at another agency, as its holder's policy lets the asker see it."""

    agency_id: str
    strength: float
    band: str
    match_id: str
    next_steps: list[str]


class LinkageQueryOut(Answer):
    query_id: str
    subject_id: str
    epoch: str
    matches: list[LinkageMatchFound]


class LinkageMatchOut(Answer):
    """A match as its asker (``holding_agency_id``) or its holder (``asking_agency_id``) sees it."""

    match_id: str
    strength: float
    created_at: str
    role: str
    subject_id: str
    holding_agency_id: str | None = None
    asking_agency_id: str | None = None


class LinkageEpochOut(Answer):
    epoch: str
    status: str
    started_at: str
    retired: list[str]
    keys_deleted: int


Number = int | float
"""A number as the handler computed it (an int stays an int on the wire)."""


class StatisticsDimensionOut(Answer):
    label: str
    values: list[str]
    sources: list[str]


class StatisticsDefaultsOut(Answer):
    epsilon: Number
    delta: Number
    k: int
    budget_per_year: Number
    max_contributions: int
    max_cells: int


class StatisticsCatalogueOut(Answer):
    """What tables may be asked for: sources and their dimensions, granularities, the defaults."""

    sources: dict[str, list[str]]
    dimensions: dict[str, StatisticsDimensionOut]
    granularities: list[str]
    defaults: StatisticsDefaultsOut


class StatisticsTableOut(Answer):
    source: str
    dimensions: list[str]
    granularity: str
    period_from: str
    period_to: str


class StatisticsCostOut(Answer):
    """The privacy cost and expected error of a table, before anything is spent."""

    table: StatisticsTableOut
    epsilon: Number
    delta: Number
    sensitivity: int
    noise_scale: Number
    expected_error_95: Number
    cells: int
    budget_years: list[str]
    budget_left_before: dict[str, Number]
    budget_left_after: dict[str, Number]
    affordable: bool
    k: int
    expected_error: str
    privacy_unit: str


class StatisticsReleaseOut(Answer):
    """A signed release: the release document (table, parameters, cells) and the gateway's signature."""

    release: dict[str, Any]
    signature: str


class CosignaturesOut(Answer):
    """The configured witnesses whose cosignatures were kept."""

    witnesses: list[str]
