"""What each staff role entitles a person to, and the role the policy sees (pure).

Entitlements are read from the authenticated account, never from a request: a client cannot
claim a role or a clearance its person does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ..accounts import StaffRole

__all__ = ["ENTITLEMENTS", "Entitlement", "entitled", "policy_role"]


class Entitlement(StrEnum):
    REQUEST_EXCEPTION = "request_exception"
    APPROVE_EXCEPTION = "approve_exception"
    ATTEST_PERSON_PRESENT = "attest_person_present"
    """Set a portal PIN with the person, approve a preview with the person, unlock their portal."""
    REFERRAL_WORK = "referral_work"
    CASE_DECISION = "case_decision"
    """Record a best-interests decision, schedule a child's interview."""
    MANAGE_STAFF = "manage_staff"
    PUBLISH_RULES = "publish_rules"
    """Publish the agency's deferral maximum."""
    VERIFY_FINGERPRINT = "verify_fingerprint"
    """Confirm a key or endpoint fingerprint read back over a separate channel (the operator's staff)."""
    RECORD_FOR_PERSON = "record_for_person"
    """Record a consent or its withdrawal, a subject, an attribute change or a mandated-reporter notice:
    the record names the signed-in person as the staff member who did it."""


R = StaffRole
_CASE_ROLES = {R.CASEWORKER, R.SUPERVISOR, R.ADVOCATE, R.GUARDIAN_ADVOCATE, R.INVESTIGATOR, R.POLICE_FOCAL_POINT}

ENTITLEMENTS: dict[Entitlement, frozenset[str]] = {
    Entitlement.REQUEST_EXCEPTION: frozenset(_CASE_ROLES),
    Entitlement.APPROVE_EXCEPTION: frozenset({R.SUPERVISOR}),
    Entitlement.ATTEST_PERSON_PRESENT: frozenset({R.CASEWORKER, R.SUPERVISOR, R.ADVOCATE, R.GUARDIAN_ADVOCATE}),
    Entitlement.REFERRAL_WORK: frozenset(_CASE_ROLES | {R.VOLUNTEER, R.INTERPRETER}),
    Entitlement.CASE_DECISION: frozenset(_CASE_ROLES),
    Entitlement.MANAGE_STAFF: frozenset({R.ADMINISTRATOR}),
    Entitlement.PUBLISH_RULES: frozenset({R.ADMINISTRATOR}),
    Entitlement.VERIFY_FINGERPRINT: frozenset({R.ADMINISTRATOR}),
    Entitlement.RECORD_FOR_PERSON: frozenset(_CASE_ROLES | {R.VOLUNTEER}),
}

#: The policy's user role (``policies/data/roles.json`` ``user_roles``) for each staff role.
#: Interpreters are their own policy role: whether they stand behind the volunteer firewall is policy
#: data (``firewalls.json`` ``volunteer.user_roles`` and ``roles.json`` ``max_level``, S27; yes as
#: shipped, pending legal sign-off), so a DPO changes it without code. Police and investigators work
#: as professional staff of their (law-enforcement) agency, whose own firewalls the policy applies.
_POLICY_ROLE: dict[str, str] = {
    R.CASEWORKER: "caseworker", R.SUPERVISOR: "caseworker", R.INVESTIGATOR: "caseworker",
    R.POLICE_FOCAL_POINT: "caseworker", R.ADVOCATE: "advocate", R.GUARDIAN_ADVOCATE: "guardian_advocate",
    R.VOLUNTEER: "volunteer", R.INTERPRETER: "interpreter",
}
#: Most restrictive first: a person holding several roles is decided as the most restricted one.
_RESTRICTIVENESS = ["volunteer", "interpreter", "guardian_advocate", "advocate", "caseworker"]


def entitled(roles: Iterable[str], entitlement: Entitlement) -> bool:
    return any(role in ENTITLEMENTS[entitlement] for role in roles)


def policy_role(roles: Iterable[str]) -> str | None:
    """The user role the policy decides with: the most restrictive mapped role, None if none maps."""
    mapped = {_POLICY_ROLE[r] for r in roles if r in _POLICY_ROLE}
    for role in _RESTRICTIVENESS:
        if role in mapped:
            return role
    return None


def valid_roles(roles: Iterable[str]) -> bool:
    known = {r.value for r in StaffRole}
    items = list(roles)
    return bool(items) and all(r in known for r in items) and StaffRole.OPERATOR not in items
