"""Every reason a caseworker can meet has a plain-words sentence, translated in all five languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway import i18n
from gateway.workspace.refusals import UNKNOWN, plain_words, refusals, sentences

REFUSALS = refusals()

ROOT = Path(__file__).resolve().parents[2]
#: Problem reasons the workspace's own requests can meet only through a bug in the page or a replay:
#: the generic sentence and the code are the right answer for those.
GENERIC_IS_ENOUGH = {
    "idempotency_key_required", "idempotency_key_reused", "manifest_invalid", "ciphertext_invalid",
    "ciphertext_hash_mismatch", "endpoint_unregistered", "unknown_envelope", "envelope_expired",
    "unknown_endpoint", "unknown_exception_grant", "exception_ttl_invalid", "explanation_not_at_outset",
    "explanation_recorded_late", "access_code_invalid", "invalid_attribute", "unknown_attribute", "no_changes",
    "nrm_outcome_needs_time", "nrm_time_in_future", "supersede_purpose_mismatch", "guardian_advocate_caseload_full",
    "unknown_consent", "invalid_field_list",
}
#: Where the reasons of plan, preview approval, send, consent, PIN and exception approval are raised.
SOURCES = ["gateway/exchange/service.py", "gateway/exchange/routes.py", "gateway/exceptions/service.py",
           "gateway/exceptions/routes.py", "gateway/portal/api.py", "consent/rules.py", "consent/portal_access.py",
           "gateway/consent_api/consents.py"]
RAISED = re.compile(r'(?:Unprocessable|Conflict|Forbidden|NotFound|Failure|ValueError)\(\s*"([a-z][a-z_]+)"'
                    r'|return \["(pin_[a-z_]+)"\]')


def test_every_policy_reason_has_a_sentence() -> None:
    reasons = json.loads((ROOT / "policies" / "data" / "reasons.json").read_text(encoding="utf-8"))["reasons"]
    assert len(reasons) > 40
    assert sorted(set(reasons) - set(REFUSALS)) == []


def test_every_reason_raised_on_the_workspace_paths_has_a_sentence() -> None:
    raised: set[str] = set()
    for source in SOURCES:
        for match in RAISED.finditer((ROOT / source).read_text(encoding="utf-8")):
            raised.add(match.group(1) or match.group(2))
    exceptions = (ROOT / "gateway/exceptions/service.py").read_text(encoding="utf-8")
    raised |= set(re.findall(r'reason = "([a-z_]+)"', exceptions))
    assert {"preview_not_approved", "risk_summary_missing", "exception_self_approval", "pin_too_simple",
            "exception_policy_not_explained"} <= raised
    missing = sorted(code for code in raised - set(REFUSALS) - GENERIC_IS_ENOUGH if " " not in code)
    assert missing == []


def test_an_unknown_reason_gets_the_generic_sentence() -> None:
    assert plain_words("a_reason_from_a_newer_gateway") == UNKNOWN
    assert plain_words("no_consent") != UNKNOWN


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_sentence_is_translated(lang: str) -> None:
    catalogue = i18n.read_catalogue(lang)
    missing = [m for m in sentences() if m not in catalogue or not catalogue[m].string or catalogue[m].fuzzy]
    assert missing == []
    if lang != "en":
        assert [m for m in sentences() if catalogue[m].string == m] == []
    # Rendered with Jinja's newstyle gettext, a "%" would be a format error.
    assert not any("%" in str(catalogue[m].string) for m in sentences())


def test_every_notice_kind_and_alert_code_has_a_sentence() -> None:
    from gateway.nrm.timers import AlertKind
    from gateway.portal.models import AlertCode
    from gateway.workspace.notices import NOTICE_KINDS

    kinds = {str(k) for k in AlertKind} | {str(c) for c in AlertCode}
    for source in ("gateway/exceptions/service.py", "gateway/exceptions/children.py"):
        kinds |= set(re.findall(r'notify_agency\([^)]*?"([a-z_]+)", now=', (ROOT / source).read_text(encoding="utf-8")))
    from gateway.exceptions.handover import KIND as HANDOVER
    from gateway.exchange.unsafe_contact import NOTICE_KIND as UNSAFE_CONTACT

    kinds |= {HANDOVER, UNSAFE_CONTACT}
    assert {"exception_used", "guardian_suspected", "duress_sign_in"} <= kinds
    assert sorted(kinds - set(NOTICE_KINDS)) == []


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_notice_sentence_is_translated(lang: str) -> None:
    from gateway.workspace import notices

    catalogue = i18n.read_catalogue(lang)
    missing = [m for m in notices.sentences() if m not in catalogue or not catalogue[m].string]
    assert missing == []
    if lang != "en":
        assert [m for m in notices.sentences() if catalogue[m].string == m] == []


def test_the_generic_sentences_are_the_pages_own() -> None:
    from gateway.workspace.notices import UNKNOWN_NOTICE

    page = (i18n.TEMPLATE_DIR / "workspace" / "home.html").read_text(encoding="utf-8")
    assert f'data-msg="reason-unknown">{{{{ _("{UNKNOWN}") }}}}' in page
    assert f'data-msg="notice-unknown">{{{{ _("{UNKNOWN_NOTICE}") }}}}' in page
    assert len(REFUSALS) > 90 and len(set(REFUSALS.values())) > 60
