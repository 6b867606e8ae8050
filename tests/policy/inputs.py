"""Builders of policy input documents for the Python policy tests (policies/README.md)."""

from __future__ import annotations

import copy
from typing import Any

NOW = "2026-11-24T10:00:00Z"
LATER = "2027-01-01T00:00:00Z"
EARLIER = "2026-11-01T00:00:00Z"

EXCEPTION_POLICY = {
    "L1": ["imminent_harm"],
    "L3": ["unconscious_emergency"],
    "L4": ["suicide_risk_disclosed"],
    "L6": ["family_tracing_appeal"],
}


def requester(kind: str = "iom", agency_id: str = "a-iom", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "agency_id": agency_id,
        "kind": kind,
        "jurisdiction": "NL",
        "user_role": "caseworker",
        "user_id": "u-1",
        "exception_policy": copy.deepcopy(EXCEPTION_POLICY),
    }
    doc.update(extra)
    return doc


def recipient(agency_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "agency_id": agency_id,
        "kind": kind,
        "jurisdiction": "NL",
        "registered": True,
        "key_verified": True,
    }
    doc.update(extra)
    return doc


def subject(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "s-1",
        "is_child": False,
        "age_disputed": False,
        "asylum_claimed": False,
        "possible_refugee": False,
        "country_of_origin": "XX",
        "declined_nrm": False,
        "placement_agency_id": "a-shelter",
        "guardian_advocate_id": None,
        "guardian_advocate_agency_id": None,
        "guardian_suspected": False,
        "contact_safety": "verified_safe",
        "open_cases": [],
        "cj_role": "none",
    }
    doc.update(extra)
    return doc


def consent(
    consent_id: str,
    purpose: str,
    recipients: list[str],
    classes: list[str],
    scope: str = "relevant_portion",
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": consent_id,
        "subject_id": "s-1",
        "purpose": purpose,
        "recipients": recipients,
        "scope": scope,
        "data_classes": classes,
        "cj_option": None,
        "expires_at": LATER,
        "guardian_consent": None,
        "child_views_recorded": None,
    }
    doc.update(extra)
    return doc


def cj_consent(consent_id: str, recipients: list[str], option: str | None, classes: list[str]) -> dict[str, Any]:
    return consent(consent_id, "criminal_justice", recipients, classes, scope="full", cj_option=option)


def request(
    purpose: str,
    recipient_doc: dict[str, Any],
    fields: list[str],
    consents: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "now": NOW,
        "requester": requester(),
        "recipient": recipient_doc,
        "purpose": purpose,
        "fields": fields,
        "subject": subject(),
        "consents": consents,
        "exception": None,
        "court_order": None,
    }
    doc.update(extra)
    return doc


def grant(basis: str, scenario: str, recipient_agency_id: str, classes: list[str], **extra: Any) -> dict[str, Any]:
    """An approved, four-eyes exception grant valid for two hours."""
    doc: dict[str, Any] = {
        "basis": basis,
        "scenario": scenario,
        "grant_id": f"g-{basis}",
        "classes": classes,
        "fields": [],
        "recipient_agency_id": recipient_agency_id,
        "approved": True,
        "second_approver_id": "u-2",
        "expires_at": "2026-11-24T12:00:00Z",
    }
    doc.update(extra)
    return doc


REFERRAL_FIELDS = [
    "envelope.urgency",
    "history.trafficking_account",
    "location.shelter_address",
    "risk.known_risks",
    "risk.level",
    "subject.first_name",
    "subject.language",
    "subject.preferred_name",
]


def ngo_referral(**extra: Any) -> dict[str, Any]:
    """An NGO referral for protection and support on a relevant-portion consent."""
    doc = request(
        "protection_support",
        recipient("a-ngo", "ngo"),
        list(REFERRAL_FIELDS),
        [consent("c-ngo", "protection_support", ["a-ngo"], ["D1", "D5", "D11"])],
    )
    doc.update(extra)
    return doc


POLICE_FIELDS = [
    "cj.statement",
    "contact.phone",
    "documents.passport_number",
    "family.children",
    "history.trafficking_account",
    "intelligence.case_summary",
    "location.shelter_address",
    "subject.birthdate",
    "subject.first_name",
]


def police_request(consents: list[dict[str, Any]], fields: list[str] | None = None) -> dict[str, Any]:
    return request("criminal_justice", recipient("a-police", "police"), fields or list(POLICE_FIELDS), consents)


def reason_of(decision: Any, field: str) -> str:
    """The reason a decision gives for denying ``field``; a failed assertion if it was not denied."""
    reasons = {d.field: d.reason for d in decision.denied_fields}
    assert field in reasons, f"{field} was not denied (permitted: {decision.permitted_fields})"
    return reasons[field]
