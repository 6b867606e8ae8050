"""Hypothesis strategies: random but well-formed policy inputs built from the data documents."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from gateway.policy import PolicyBundle

_DOCS = PolicyBundle.load().documents
KINDS = sorted(_DOCS["roles"]["agency_kinds"])
USER_ROLES = sorted(_DOCS["roles"]["user_roles"])
PURPOSES = sorted(_DOCS["purposes"]["purposes"])
SCOPES = sorted(_DOCS["scopes"]["scopes"])
FIELDS = sorted(_DOCS["fields"]["fields"])
CLASSES = sorted(_DOCS["classes"]["classes"], key=lambda k: int(k[1:]))
BASES = sorted(_DOCS["exceptions"]["exceptions"])
AGENCIES = ["a-1", "a-2", "a-shelter"]
COUNTRIES = ["NL", "BE", "XX"]
TIMES = ["2026-11-01T00:00:00Z", "2026-11-24T10:00:00Z", "2026-11-24T11:00:00Z", "2027-01-01T00:00:00Z"]
CJ_OPTIONS = ["formal_report_and_witness", "anonymous_intelligence_only", "none", None]


def _mostly(value: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(value), st.just(value), st.just(value), other)


# Values a safety flag may arrive with: booleans mostly, sometimes null or a mistyped value
# (which must count as set: gateway/policy/flags.py, data.gateway.model.flag).
MISTYPED_FLAGS = ["false", "true", 0, 1, "", "no", [], {}]


def safety_flags() -> st.SearchStrategy[Any]:
    return st.one_of(st.booleans(), st.booleans(), st.booleans(), st.none(), st.sampled_from(MISTYPED_FLAGS))


@st.composite
def consents(draw: st.DrawFn) -> dict[str, Any]:
    recipients = draw(st.lists(st.sampled_from(AGENCIES + [f"kind:{k}" for k in KINDS]), max_size=3, unique=True))
    doc: dict[str, Any] = {
        "id": f"c-{draw(st.integers(0, 999))}",
        "subject_id": draw(_mostly("s-1", st.just("s-2"))),
        "purpose": draw(st.sampled_from(PURPOSES)),
        "recipients": recipients,
        "scope": draw(_mostly(draw(st.sampled_from(SCOPES)), st.just("everything"))),
        "data_classes": draw(st.lists(st.sampled_from(CLASSES), max_size=10, unique=True)),
        "cj_option": draw(st.sampled_from(CJ_OPTIONS)),
        "expires_at": draw(st.sampled_from(TIMES)),
        "guardian_consent": draw(st.sampled_from([None, True, False])),
        "child_views_recorded": draw(st.sampled_from([None, True, False])),
    }
    if draw(st.booleans()):
        doc["countries"] = draw(st.lists(st.sampled_from(COUNTRIES), max_size=2, unique=True))
    if draw(st.integers(0, 9)) == 0:
        doc["withdrawn_at"] = "2026-11-24T09:00:00Z"
    return doc


@st.composite
def exceptions(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 3)) != 0:
        return None
    return {
        "basis": draw(st.sampled_from([*BASES, "L99"])),
        "scenario": draw(st.sampled_from(["unconscious_emergency", "family_tracing_appeal", "suicide_risk_disclosed",
                                          "other"])),
        "grant_id": "g-1",
        "classes": draw(st.lists(st.sampled_from(CLASSES), max_size=4, unique=True)),
        "fields": draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True)),
        "recipient_agency_id": draw(st.sampled_from(AGENCIES)),
        "approved": draw(_mostly(True, st.just(False))),
        "second_approver_id": draw(st.sampled_from(["u-2", "u-1", None])),
        "expires_at": draw(st.sampled_from(TIMES)),
    }


@st.composite
def decision_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A random request: known vocabulary most of the time, unknown values sometimes."""
    recipient: dict[str, Any] = {
        "agency_id": draw(st.sampled_from(AGENCIES)),
        "kind": draw(_mostly(draw(st.sampled_from(KINDS)), st.just("tabloid"))),
        "jurisdiction": draw(st.sampled_from(COUNTRIES)),
        "registered": draw(_mostly(True, st.just(False))),
        "key_verified": draw(_mostly(True, st.just(False))),
    }
    if draw(st.integers(0, 4)) == 0:
        recipient["user_role"] = draw(st.sampled_from(USER_ROLES))
    if draw(st.integers(0, 2)) == 0:
        recipient["represents_state"] = draw(st.sampled_from([*COUNTRIES, "YY", None]))
    return {
        "now": "2026-11-24T10:00:00Z",
        "requester": {
            "agency_id": "a-req",
            "kind": draw(st.sampled_from(KINDS)),
            "jurisdiction": draw(_mostly("NL", st.sampled_from(COUNTRIES))),
            "user_role": draw(_mostly("caseworker", st.sampled_from(USER_ROLES))),
            "user_id": "u-1",
            "exception_policy": {
                "L3": ["unconscious_emergency"],
                "L4": ["suicide_risk_disclosed"],
                "L6": ["family_tracing_appeal"],
            },
        },
        "recipient": recipient,
        "purpose": draw(_mostly(draw(st.sampled_from(PURPOSES)), st.just("gossip"))),
        "fields": draw(st.lists(st.sampled_from([*FIELDS, "subject.shoe_size"]), max_size=12, unique=True)),
        "subject": {
            "id": "s-1",
            "is_child": draw(safety_flags()),
            "age_disputed": draw(safety_flags()),
            "asylum_claimed": draw(safety_flags()),
            "possible_refugee": draw(safety_flags()),
            "country_of_origin": draw(st.sampled_from(["XX", "YY", "XX", "YY", None])),
            "declined_nrm": draw(st.booleans()),
            "placement_agency_id": draw(st.sampled_from([*AGENCIES, None])),
            "guardian_advocate_id": None,
            "guardian_suspected": draw(st.booleans()),
            "open_cases": [],
            "cj_role": "none",
        },
        "consents": draw(st.lists(consents(), max_size=4)),
        "exception": draw(exceptions()),
        "court_order": draw(st.sampled_from([None, None, {"reference": "CO-1"}, {"reference": ""}])),
    }
