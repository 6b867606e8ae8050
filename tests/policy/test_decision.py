"""Decision parsing and ``decide``: every way an answer can be wrong is a deny, never a raise."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from gateway.policy import (
    Decision,
    DeniedField,
    PolicyEngine,
    PolicyResultError,
    PolicyTimeoutError,
    PolicyUnreachableError,
    decide,
)
from gateway.policy.decision import ENGINE_REASONS

GOOD: dict[str, Any] = {
    "allow": True,
    "permitted_fields": ["subject.language"],
    "denied_fields": [{"field": "subject.first_name", "reason": "not_in_profile"}],
    "reasons": [],
    "basis": {"consent_ids": ["c-1"], "exception": None},
    "obligations": {
        "include_risk_summary": True,
        "person_preview_required": True,
        "notify_person": False,
        "second_approver_required": False,
        "expires_at": "2027-01-01T00:00:00Z",
    },
    "policy_version": "sha256:abc",
    "explanation": ["CR1.consent"],
}


class FakeEngine:
    """A PolicyEngine double that answers or raises as told."""

    name = "fake"
    version = "sha256:abc"

    def __init__(self, answer: Any = None, error: BaseException | None = None) -> None:
        self.answer, self.error = answer, error

    def evaluate(self, input_doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if self.error is not None:
            raise self.error
        answer: Mapping[str, Any] | None = self.answer
        return answer

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None


REQUEST = {"fields": ["subject.language", "subject.first_name"]}


def test_fake_engine_is_a_policy_engine() -> None:
    assert isinstance(FakeEngine(), PolicyEngine)


def test_a_good_document_round_trips() -> None:
    decision = Decision.from_document(GOOD)
    assert decision.allow
    assert decision.denied_fields == (DeniedField("subject.first_name", "not_in_profile"),)
    assert decision.to_document() == GOOD
    assert decide(FakeEngine(GOOD), REQUEST) == decision


def _broken(**changes: Any) -> dict[str, Any]:
    doc = {**GOOD, **changes}
    return {k: v for k, v in doc.items() if v is not ...}


@pytest.mark.parametrize(
    "doc",
    [
        "allow",
        [],
        _broken(allow="true"),
        _broken(allow=1),
        _broken(extra=1),
        _broken(explanation=...),
        _broken(permitted_fields="subject.language"),
        _broken(permitted_fields=[1]),
        _broken(denied_fields=[{"field": "x"}]),
        _broken(denied_fields=[{"field": "x", "reason": ""}]),
        _broken(denied_fields=[{"field": "subject.language", "reason": "not_in_profile"}]),
        _broken(reasons=["no_consent"]),
        _broken(permitted_fields=[]),
        _broken(allow=False),
        _broken(allow=False, reasons=["no_consent"]),
        _broken(basis={"consent_ids": ["c-1"]}),
        _broken(basis={"consent_ids": "c-1", "exception": None}),
        _broken(basis={"consent_ids": [], "exception": 3}),
        _broken(obligations={**GOOD["obligations"], "notify_person": "no"}),
        _broken(obligations={**GOOD["obligations"], "expires_at": 5}),
        _broken(obligations={"include_risk_summary": True}),
        _broken(policy_version=""),
        _broken(policy_version=7),
        _broken(permitted_fields=["a", "a"]),
    ],
)
def test_a_malformed_document_is_a_deny(doc: Any) -> None:
    decision = Decision.from_document(doc)
    assert not decision.allow
    assert decision.reasons == ("policy_malformed_result",)
    assert decide(FakeEngine(doc), REQUEST).reasons == ("policy_malformed_result",)


def test_engine_sets_are_accepted_as_lists() -> None:
    doc = {**GOOD, "permitted_fields": {"subject.language"}, "explanation": {"CR1.consent"}}
    assert Decision.from_document(doc) == Decision.from_document(GOOD)


def test_undefined_is_a_deny() -> None:
    decision = decide(FakeEngine(None), REQUEST)
    assert decision.reasons == ("policy_undefined",)
    assert [d.field for d in decision.denied_fields] == sorted(REQUEST["fields"])
    assert decision.policy_version == "sha256:abc"


def test_the_policy_default_decision_is_policy_undefined() -> None:
    default = {**GOOD, "allow": False, "permitted_fields": [], "denied_fields": [], "reasons": ["policy_undefined"],
               "policy_version": "unversioned"}
    assert decide(FakeEngine(default), REQUEST).reasons == ("policy_undefined",)


class PanicLike(BaseException):
    """pyo3's PanicException derives from BaseException, not Exception."""


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (RuntimeError("boom"), "policy_engine_error"),
        (PanicLike("unsendable"), "policy_engine_error"),
        (PolicyTimeoutError("slow"), "policy_timeout"),
        (PolicyUnreachableError("down"), "policy_engine_unreachable"),
        (PolicyResultError("not an object"), "policy_malformed_result"),
        (MemoryError(), "policy_engine_error"),
    ],
)
def test_engine_failures_are_denies(error: BaseException, reason: str) -> None:
    assert decide(FakeEngine(error=error), REQUEST).reasons == (reason,)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(1)])
def test_interrupts_are_not_swallowed(error: BaseException) -> None:
    with pytest.raises(type(error)):
        decide(FakeEngine(error=error), REQUEST)


def test_version_mismatch_is_a_deny() -> None:
    assert decide(FakeEngine({**GOOD, "policy_version": "sha256:old"}), REQUEST).reasons == (
        "policy_version_mismatch",
    )


def test_permitting_an_unrequested_field_is_a_deny() -> None:
    assert decide(FakeEngine(GOOD), {"fields": ["subject.first_name"]}).reasons == ("policy_malformed_result",)


def test_a_hostile_input_mapping_still_gets_a_deny() -> None:
    class Hostile(dict[str, Any]):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise ValueError("no")

    assert decide(FakeEngine(None), Hostile()).reasons == ("policy_undefined",)


def test_logs_name_the_engine_and_reason_but_never_input_values(caplog: pytest.LogCaptureFixture) -> None:
    secret = "subject.secret_shelter_street_12"
    with caplog.at_level(logging.WARNING, logger="gateway.policy"):
        decide(FakeEngine(error=RuntimeError(secret)), {"fields": [secret]})
        decide(FakeEngine(None), {"fields": [secret]})
    text = caplog.text
    assert "fake" in text
    assert "policy_engine_error" in text or "RuntimeError" in text
    assert secret not in text


def test_deny_constructor() -> None:
    decision = Decision.deny("policy_timeout", "v1", ["b", "a", "a", 3])  # type: ignore[list-item]
    assert decision.permitted_fields == ()
    assert decision.denied_fields == (DeniedField("a", "policy_timeout"), DeniedField("b", "policy_timeout"))
    assert decision.reasons == ("policy_timeout",)
    assert decision.obligations.as_dict()["expires_at"] is None


def test_engine_reason_codes_are_documented(bundle: Any) -> None:
    documented = bundle.documents["reasons"]["reasons"]
    assert set(documented) >= ENGINE_REASONS
    assert all(documented[code]["scope"] == "engine" for code in ENGINE_REASONS)
