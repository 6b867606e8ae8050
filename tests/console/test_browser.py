"""The console in real headless Chromium (Debian's, driven by Playwright), with screenshots.

These run on SQLite only: they test what the browser sees (cookies, forms, redirects,
downloads, accessibility), which does not depend on the database, and each costs a few
seconds of browser time; the same console flows run on both databases through the HTTP
tests in test_console.py. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from consent.clock import FixedClock
from crypto.checkpoint import Checkpoint
from gateway.audit import checkpoints
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from tests.conftest import empty_database
from tests.console.conftest import StaffLogin
from tests.support.browser import screenshot, serious_axe_violations
from tests.support.pseudonyms import pseudonym_of, subject_of
from tests.support.witnessing import checkpoint_and_cosign

# No skip when Chromium is missing: ./dev test and .ci/run install it, and a browser test that
# silently skips proves nothing.
pytestmark = [pytest.mark.browser]


@pytest.fixture
def db_url(sqlite_database: str) -> Iterator[str]:
    """SQLite only (see tests/support/browser.py); emptied afterwards like the shared fixture."""
    yield sqlite_database
    empty_database(sqlite_database)


@pytest.fixture
def history(ctx: GatewayContext) -> Checkpoint:
    """A subject's referral trail, and a checkpoint over it that the monitoring body's witness cosigned.

    Returns that witnessed checkpoint: the server's own timer may cut later, unwitnessed ones (over the
    console's own view entries), which the console must not use for a proof.
    """
    at = ctx.clock.now()
    caseworker = Actor(agency_id="iom", role="iom", user="caseworker-4")
    events = [
        AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id="subj-42", purpose="referral",
                   recipient_agency_id="shelter", classes_requested=("D1", "D4", "D5"), classes_released=("D1", "D5"),
                   policy_version="bundle-2026-11", basis={"consent_ids": ["cns-17"], "exception": None}),
        AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id="subj-42", purpose="referral",
                   recipient_agency_id="shelter", classes_released=("D1", "D5"), policy_version="bundle-2026-11",
                   basis={"consent_ids": ["cns-17"], "exception": None}, details={"envelope_id": "env-9"}),
        AuditEvent(AuditTag.POLICY_DECISION, decision="deny", reason="consent_missing", subject_id="subj-42",
                   purpose="criminal_justice", recipient_agency_id="police", classes_requested=("D3",),
                   policy_version="bundle-2026-11"),
        AuditEvent(AuditTag.EXCEPTION_USE, decision="allow", subject_id="subj-7", purpose="safeguarding",
                   recipient_agency_id="police", classes_released=("D12",), policy_version="bundle-2026-11",
                   basis={"consent_ids": [], "exception": "L3"},
                   details={"deferred_until": "2027-03-01T00:00:00Z", "defer_reason": "covert_investigation"}),
    ]
    with ctx.sessions() as session, session.begin():
        for i, event in enumerate(events):
            record(session, event, actor=caseworker, at=at + timedelta(minutes=i))
    checkpoint_and_cosign(ctx)  # the console trusts a checkpoint the configured witness cosigned, nothing less
    with ctx.sessions() as session:
        witnessed = checkpoints.latest_checkpoint(session)
    assert witnessed is not None
    return witnessed


def _shot(page: Any, name: str) -> None:
    screenshot(page, f"console-{name}")


def _sign_in(page: Any, base: str, dpo: StaffLogin, code: str | None = None) -> None:
    page.goto(f"{base}/console")
    page.fill("#username", dpo.username)
    page.fill("#password", dpo.password)
    page.fill("#code", code or dpo.code())
    page.click("button:has-text('Sign in')")


def test_a_dpo_finds_a_subjects_history_and_sees_a_verified_proof(
    server: str, browser: Any, dpo: StaffLogin, history: Checkpoint, ctx: GatewayContext, clock: FixedClock,
    tmp_path: Path,
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    accessibility: dict[str, list[str]] = {}

    # Signed out: the console sends the browser to the sign-in form.
    page.goto(f"{server}/console")
    assert page.url.endswith("/console/login")
    accessibility["login"] = serious_axe_violations(page)

    # A wrong one-time code is refused, with the same words as any other failure.
    wrong = "000000" if dpo.code() != "000000" else "111111"
    _sign_in(page, server, dpo, code=wrong)
    assert "Sign-in failed" in page.text_content("#signin-error")
    _shot(page, "01-wrong-code")

    _sign_in(page, server, dpo)
    assert page.url.endswith("/console")
    assert page.text_content("h1") == "Overview"
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-gw-console")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    accessibility["overview"] = serious_axe_violations(page)
    _shot(page, "02-overview")

    # The subject's trail.
    page.fill("#home-subject", "subj-42")
    page.click("button:has-text('Show trail')")
    assert "subject=subj-42" in page.url
    rows = page.locator("table.entries tbody tr")
    assert rows.count() == 3
    assert "bundle-2026-11" in page.text_content("table.entries")
    assert "cns-17" in page.text_content("table.entries")
    accessibility["trail"] = serious_axe_violations(page)
    _shot(page, "03-subject-trail")
    with ctx.sessions() as session:
        views = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:log:view")))
    assert [(v.actor_user, subject_of(ctx, v.subject_id)) for v in views] == [("dpo", "subj-42")]

    # The operator's timer cuts a newer checkpoint over the view entry, which no witness has cosigned (yet).
    with ctx.sessions() as session, session.begin():
        newer = checkpoints.create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer,
                                              at=ctx.clock.now(), signer=ctx.note_signer())
    assert newer.tree_size > history.tree_size

    # One entry, with its inclusion proof checked against the signed checkpoint.
    first = page.locator("table.entries tbody tr td:first-child a").last
    seq = first.text_content()
    first.click()
    assert page.text_content("h1") == f"Entry {seq}"
    assert page.text_content("#proof-status").startswith("Verified")
    # The proof is against the witnessed checkpoint, even if the server has since cut newer, unwitnessed ones.
    assert page.text_content("#proof-tree-size") == str(history.tree_size)
    assert page.text_content("#proof-root") == history.root_hash
    accessibility["entry"] = serious_axe_violations(page)
    _shot(page, "04-entry-verified")

    # Export the trail as CSV.
    page.go_back()
    page.select_option("#export-format", "csv")
    with page.expect_download() as download_info:
        page.click("button:has-text('Export')")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("seq,at,action,decision")
    # The trail now also holds the DPO's own views of it: access to the log is in the log.
    actions = [line.split(",")[2] for line in lines[1:]]
    assert actions.count("audit:log:view") == 3 and len(actions) == 6  # trail, entry, trail again
    assert all(f",{pseudonym_of(ctx, 'subj-42')}," in line for line in lines[1:])  # the pseudonym the leaf holds
    with ctx.sessions() as session:
        exports = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:log:export")))
    assert len(exports) == 1 and subject_of(ctx, exports[0].subject_id) == "subj-42"

    # A dashboard, and the deferred entry it lists.
    page.goto(f"{server}/console/dashboards/exceptions")
    assert "deferred until 2027-03-01" in page.text_content("table.entries")
    accessibility["dashboard"] = serious_axe_violations(page)
    _shot(page, "05-dashboard-exceptions")

    # A form posted without its CSRF token is refused.
    page.goto(f"{server}/console")
    page.locator("form[action='/console/verify'] input[name=csrf_token]").evaluate("node => node.remove()")
    with page.expect_navigation() as navigation:
        page.click("button:has-text('Verify the whole log now')")
    assert navigation.value.status == 403
    assert page.text_content("h1") == "Request refused"
    _shot(page, "06-csrf-refused")

    # With the token the whole log verifies.
    page.goto(f"{server}/console")
    page.click("button:has-text('Verify the whole log now')")
    assert "passed" in page.text_content("#verification-status")
    _shot(page, "07-verified")

    # Idle too long: the next page is the sign-in form again.
    clock.advance(timedelta(seconds=ctx.settings.console_session_idle_s + 1))
    page.goto(f"{server}/console/entries")
    assert "/console/login" in page.url
    assert "inactivity" in page.text_content("main")
    _shot(page, "08-idle-timeout")

    problems = {name: found for name, found in accessibility.items() if found}
    assert not problems, f"axe-core found serious or critical violations: {problems}"
