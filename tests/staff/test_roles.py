"""Entitlements and the policy role are functions of the account's roles alone (property tests)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.accounts import StaffRole
from gateway.staff.roles import ENTITLEMENTS, Entitlement, entitled, policy_role, valid_roles

POLICY_ROLES = json.loads((Path(__file__).resolve().parents[2] / "policies" / "data" / "roles.json")
                          .read_text())["user_roles"]
ROLES = st.frozensets(st.sampled_from([r.value for r in StaffRole if r != StaffRole.OPERATOR]), max_size=6)


@given(ROLES)
def test_the_policy_role_is_known_to_the_policy_and_never_above_any_role_held(roles: frozenset[str]) -> None:
    decided = policy_role(roles)
    mapped = {policy_role({r}) for r in roles} - {None}
    if decided is None:
        assert not mapped
        return
    assert decided in POLICY_ROLES
    assert all(POLICY_ROLES[decided]["max_level"] <= POLICY_ROLES[m]["max_level"] for m in mapped if m)


@given(ROLES, ROLES)
def test_adding_roles_only_adds_entitlements(roles: frozenset[str], more: frozenset[str]) -> None:
    for entitlement in Entitlement:
        if entitled(roles, entitlement):
            assert entitled(roles | more, entitlement)


def test_volunteers_and_interpreters_are_decided_as_their_restricted_roles_and_approve_nothing() -> None:
    """An interpreter is the policy's ``interpreter`` role: the policy data puts it behind the volunteer
    firewall (tests/policy/test_legal_settings.py shows the data deciding it)."""
    for role in ("volunteer", "interpreter"):
        assert policy_role({role}) == role
        assert policy_role({role, "caseworker", "supervisor"}) == role
    assert policy_role({"volunteer", "interpreter"}) == "volunteer"
    for role in ("volunteer", "interpreter"):
        assert not any(entitled({role}, e) for e in ENTITLEMENTS
                       if e not in (Entitlement.REFERRAL_WORK, Entitlement.RECORD_FOR_PERSON))
    # A volunteer may record what they did with the person; an interpreter translates, and records nothing.
    assert entitled({"volunteer"}, Entitlement.RECORD_FOR_PERSON)
    assert not entitled({"interpreter"}, Entitlement.RECORD_FOR_PERSON)
    assert policy_role({"administrator"}) is None
    assert valid_roles(["caseworker"]) and not valid_roles([]) and not valid_roles(["operator"])
    assert not valid_roles(["root"])
