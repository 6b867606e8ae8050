"""The DPO console over HTTP: sign-in, sessions, CSRF, search, dashboards, proofs, exports, access logging."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from gateway.audit import checkpoints
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.models import AuditEntry
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.web.models import WebSession
from tests.console.conftest import COOKIE, StaffLogin, csrf_of, make_staff, sign_in
from tests.support.pseudonyms import pseudonym_of, subject_of
from tests.support.tamper import tampering
from tests.support.witnessing import WITNESS, checkpoint_and_cosign, witness_seed

TEMPLATES = Path(__file__).resolve().parents[2] / "gateway" / "templates" / "console"


def _entries(ctx: GatewayContext, action: str | None = None) -> list[AuditEntry]:
    with ctx.sessions() as session:
        statement = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            statement = statement.where(AuditEntry.action == action)
        return list(session.scalars(statement))


def _seed(ctx: GatewayContext) -> None:
    """A small history: decisions, exceptions, S4 classes, a withdrawal, deliveries with and without acks."""
    at = ctx.clock.now()
    iom = Actor(agency_id="iom", role="iom", user="caseworker-1")
    events = [
        AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id="subj-1", purpose="referral",
                   recipient_agency_id="shelter", classes_requested=("D1", "D4"), classes_released=("D1",),
                   policy_version="bundle-7", basis={"consent_ids": ["cns-1"], "exception": None}),
        AuditEvent(AuditTag.POLICY_DECISION, decision="deny", reason="consent_missing", subject_id="subj-2",
                   purpose="criminal_justice", recipient_agency_id="police", classes_requested=("D3",),
                   policy_version="bundle-7"),
        AuditEvent(AuditTag.EXCEPTION_USE, decision="allow", subject_id="subj-2", purpose="safeguarding",
                   recipient_agency_id="police", classes_released=("D12",),
                   basis={"consent_ids": [], "exception": "L3"},
                   details={"deferred_until": "2027-06-01T00:00:00Z", "defer_reason": "covert_investigation"}),
        AuditEvent(AuditTag.CONSENT_WITHDRAW, subject_id="subj-1", purpose="referral", details={"consent_id": "cns-1"}),
        AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id="subj-1", purpose="referral",
                   recipient_agency_id="shelter", details={"envelope_id": "env-acked"}),
        AuditEvent(AuditTag.EXCHANGE_ACK, subject_id="subj-1", recipient_agency_id="shelter",
                   details={"envelope_id": "env-acked"}),
        AuditEvent(AuditTag.EXCHANGE_SUBMIT, decision="allow", subject_id="subj-3", purpose="referral",
                   recipient_agency_id="clinic", details={"envelope_id": "env-pending"}),
        AuditEvent(AuditTag.EXCHANGE_EXPIRE, reason="never_acknowledged", subject_id="subj-4",
                   recipient_agency_id="unhcr", details={"envelope_id": "env-expired"}),
        AuditEvent(AuditTag.POLICY_DECISION, decision="deny", reason="=HYPERLINK(\"x\")", subject_id="subj-5"),
        AuditEvent(AuditTag.EXCHANGE_ACK, subject_id="subj-6"),  # no envelope id: must not hide the others
    ]
    with ctx.sessions() as session, session.begin():
        for i, event in enumerate(events):
            record(session, event, actor=iom, at=at + timedelta(seconds=i))


def _checkpoint(ctx: GatewayContext) -> None:
    """A checkpoint the configured witness cosigned: the console trusts nothing less."""
    checkpoint_and_cosign(ctx)


@pytest.mark.rule("ASVS-6.3.1", "ASVS-7.2.4", "ASVS-3.3.1")
class TestSignIn:
    def test_password_and_code_sign_in_with_a_new_hardened_session(
        self, client: TestClient, dpo: StaffLogin, ctx: GatewayContext
    ) -> None:
        form = client.get("/console/login")
        before = client.cookies.get(COOKIE)
        assert before
        response = client.post("/console/login", data={"csrf_token": csrf_of(form.text), "username": "dpo",
                                                        "password": dpo.password, "code": dpo.code()},
                               follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower()
        assert "domain=" not in cookie.lower()
        after = client.cookies.get(COOKIE)
        assert after and after != before and len(after) >= 43  # 256 random bits, base64url
        with ctx.sessions() as session:
            stored = [s.id_hash for s in session.scalars(select(WebSession))]
        assert after not in stored and before not in stored  # only hashes are kept
        assert len(_entries(ctx, AuditTag.CONSOLE_SIGN_IN)) == 1
        home = client.get("/console")
        assert home.status_code == 200 and "Overview" in home.text

    def test_failures_look_the_same_whatever_was_wrong(
        self, client: TestClient, dpo: StaffLogin, ctx: GatewayContext, clock: FixedClock
    ) -> None:
        make_staff(ctx, "advocate-1", "advocate")  # a staff account that may not use the console
        attempts = {
            "unknown user": {"username": "nobody"},
            "wrong password": {"password": "wrong horse battery staple"},
            "wrong code": {"code": "000000" if dpo.code() != "000000" else "111111"},
            "wrong role": {"username": "advocate-1", "password": "correct horse battery staple"},
        }
        bodies = {}
        for name, change in attempts.items():
            response = sign_in(client, dpo, **change)
            assert response.status_code == 401, name
            bodies[name] = re.sub(r'value="[^"]+"', "", response.text)
        assert len(set(bodies.values())) == 1
        assert len(_entries(ctx, AuditTag.CONSOLE_SIGN_IN_FAIL)) == 4
        assert client.get("/console", follow_redirects=False).status_code == 303

    def test_a_code_one_step_away_works_and_no_code_works_twice(
        self, client: TestClient, dpo: StaffLogin, clock: FixedClock
    ) -> None:
        code = dpo.code(-1)
        assert sign_in(client, dpo, code=code).status_code == 303
        client.cookies.clear()
        assert sign_in(client, dpo, code=code).status_code == 401  # replayed
        assert sign_in(client, dpo, code=dpo.code(-2)).status_code == 401  # outside the window
        clock.advance(timedelta(seconds=60))
        assert sign_in(client, dpo).status_code == 303

    def test_back_off_after_repeated_failures_without_revealing_accounts(
        self, client: TestClient, dpo: StaffLogin, clock: FixedClock
    ) -> None:
        for username in ("dpo", "nobody"):
            for _ in range(5):
                assert sign_in(client, dpo, username=username, password="wrong").status_code == 401
            blocked = sign_in(client, dpo, username=username, password="wrong")
            assert blocked.status_code == 401  # the sixth failure starts the delay
            throttled = sign_in(client, dpo, username=username)
            assert throttled.status_code == 429
            assert int(throttled.headers["retry-after"]) >= 1
        clock.advance(timedelta(seconds=5))
        assert sign_in(client, dpo).status_code == 303  # the right credentials work again after the delay

    def test_a_monitoring_body_account_signs_in(self, client: TestClient, ctx: GatewayContext) -> None:
        monitor = make_staff(ctx, "monitor", "monitoring_body")
        assert sign_in(client, monitor).status_code == 303


@pytest.mark.rule("ASVS-3.5.1")
class TestCsrf:
    def test_posts_without_the_session_token_are_refused(self, console: TestClient, ctx: GatewayContext) -> None:
        for path in ("/console/logout", "/console/verify", "/console/export"):
            assert console.post(path, data={}).status_code == 403
            assert console.post(path, data={"csrf_token": "forged"}).status_code == 403
        assert console.get("/console").status_code == 200  # still signed in
        assert not _entries(ctx, AuditTag.AUDIT_EXPORT)

    def test_the_sign_in_form_needs_its_token_too(self, client: TestClient, dpo: StaffLogin) -> None:
        client.get("/console/login")
        response = client.post("/console/login", data={"username": "dpo", "password": dpo.password,
                                                        "code": dpo.code()})
        assert response.status_code == 403


@pytest.mark.rule("ASVS-7.3.1", "ASVS-7.3.2", "ASVS-14.3.1")
class TestSessionEnd:
    def test_idle_timeout(self, console: TestClient, clock: FixedClock, ctx: GatewayContext) -> None:
        clock.advance(timedelta(seconds=ctx.settings.console_session_idle_s - 5))
        assert console.get("/console").status_code == 200  # activity keeps it alive
        clock.advance(timedelta(seconds=ctx.settings.console_session_idle_s + 1))
        response = console.get("/console", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/login?expired=1"

    def test_absolute_timeout(self, console: TestClient, clock: FixedClock, ctx: GatewayContext) -> None:
        step = ctx.settings.console_session_idle_s - 10
        elapsed = 0
        while elapsed + step < ctx.settings.console_session_absolute_s:
            clock.advance(timedelta(seconds=step))
            elapsed += step
            assert console.get("/console").status_code == 200
        clock.advance(timedelta(seconds=step))
        assert console.get("/console", follow_redirects=False).status_code == 303

    def test_logout_clears_the_session_and_the_browser(self, console: TestClient, ctx: GatewayContext) -> None:
        cookie = console.cookies.get(COOKIE)
        page = console.get("/console")
        response = console.post("/console/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["clear-site-data"] == '"cache", "cookies", "storage"'
        assert f"{COOKIE}=" in response.headers["set-cookie"] and "max-age=0" in response.headers["set-cookie"].lower()
        console.cookies.set(COOKIE, cookie or "", domain="testserver")
        assert console.get("/console", follow_redirects=False).status_code == 303


class TestPages:
    def test_security_headers_on_every_page(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        for path in ("/console", "/console/login", "/console/entries", "/console/entries/1",
                     "/console/dashboards/denied"):
            response = console.get(path)
            assert response.status_code == 200, path
            headers = response.headers
            assert headers["content-security-policy"].startswith("default-src 'self'")
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["cache-control"] == "no-store"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"

    def test_templates_load_nothing_from_elsewhere_and_run_no_script(self) -> None:
        for template in TEMPLATES.glob("*.html"):
            text = template.read_text()
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", text, re.I), template.name
            assert "<script" not in text.lower() and " on" + "click" not in text.lower()
            assert "style=" not in text  # CSP 'self' blocks inline styles

    @pytest.mark.rule("S36")
    def test_a_dpo_viewing_a_subjects_trail_creates_an_entry(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        before = len(_entries(ctx))
        page = console.get("/console/entries", params={"subject": "subj-1"})
        assert page.status_code == 200
        for needle in ("caseworker-1", "bundle-7", "cns-1", "D1", "referral", "shelter", "allow"):
            assert needle in page.text
        assert "subj-2" not in page.text
        after = _entries(ctx)
        assert len(after) == before + 1
        view = after[-1]
        assert (view.action, view.actor_user, view.actor_role, subject_of(ctx, view.subject_id)) == (
            "audit:log:view", "dpo", "dpo", "subj-1")
        assert view.details["view"] == "search" and view.details["results"] == 4
        # A subject id that matches nothing is not written down (it may be a mistyped name).
        console.get("/console/entries", params={"subject": "Maria_Lopez"})
        last = _entries(ctx)[-1]
        assert last.subject_id is None and "Maria_Lopez" not in json.dumps(last.details)

    def test_filters(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)

        def seqs(**params: str) -> set[str]:
            text = console.get("/console/entries", params=params).text
            return set(re.findall(r'aria-label="Entry (\d+)"', text))

        assert len(seqs(decision="deny")) == 2
        assert len(seqs(basis="L3")) == 1 and len(seqs(basis="exception")) == 1
        assert len(seqs(basis="consent")) == 1
        assert len(seqs(agency="police")) == 2
        assert len(seqs(purpose="criminal_justice")) == 1
        assert len(seqs(action="exchange:")) == 5
        assert len(seqs(action="exchange:envelope:ack")) == 2
        day = ctx.clock.now().date().isoformat()
        assert len(seqs(**{"from": day, "to": day, "decision": "deny"})) == 2
        assert seqs(**{"to": "2000-01-01"}) == set()
        bad = console.get("/console/entries", params={"decision": "maybe", "from": "yesterday"})
        assert bad.status_code == 200 and "decision: allow, deny or info" in bad.text

    def test_pagination(self, console: TestClient, ctx: GatewayContext) -> None:
        with ctx.sessions() as session, session.begin():
            for i in range(60):
                record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id="subj-many"),
                       actor=Actor(agency_id="iom"), at=ctx.clock.now() + timedelta(seconds=i))
        first = console.get("/console/entries", params={"subject": "subj-many"}).text
        older = re.search(r'href="\?([^"]+)">Older entries', first)
        assert older
        second = console.get("/console/entries?" + older.group(1).replace("&amp;", "&")).text
        assert len(re.findall(r'aria-label="Entry', first)) == 50
        assert len(re.findall(r'aria-label="Entry', second)) == 10

    @pytest.mark.rule("S36")
    def test_dashboards(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        seq = {e.details.get("envelope_id") or e.action + str(e.decision): e.seq for e in _entries(ctx)}

        def board(name: str) -> str:
            response = console.get(f"/console/dashboards/{name}")
            assert response.status_code == 200
            return response.text

        exceptions = board("exceptions")
        assert "L3" in exceptions and "deferred until 2027-06-01" in exceptions
        assert "consent_missing" in board("denied")
        sensitive = board("sensitive")
        assert "police" in sensitive and "shelter" in sensitive  # D3 asked by police, D4 asked for the shelter
        assert "consent:record:withdraw" in board("withdrawals")
        unacknowledged = board("unacknowledged")
        listed = set(re.findall(r'aria-label="Entry (\d+)"', unacknowledged))
        assert str(seq["env-pending"]) in listed and str(seq["env-expired"]) in listed
        assert str(seq["env-acked"]) not in listed
        assert console.get("/console/dashboards/nope").status_code == 404
        views = [e for e in _entries(ctx, AuditTag.AUDIT_VIEW) if e.details.get("view") == "dashboard"]
        assert len(views) == 5

    @pytest.mark.rule("S37", "S38")
    def test_missed_nrm_deadlines_have_a_dashboard_and_sub_bases_filter(
        self, console: TestClient, ctx: GatewayContext
    ) -> None:
        with ctx.sessions() as session, session.begin():
            for subject, kind in (("subj-a", "child_entitlements_overdue"), ("subj-b", "stage1_decision_overdue"),
                                  ("subj-c", "stage1_decision_overdue")):
                record(session, AuditEvent(AuditTag.NRM_SLA_ALERT, reason=kind, subject_id=subject),
                       actor=Actor.system(), at=ctx.clock.now())
            record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow", subject_id="subj-d",
                                       basis={"consent_ids": [], "exception": "L5c"}),
                   actor=Actor(agency_id="iom"), at=ctx.clock.now())
        page = console.get("/console/dashboards/deadlines").text
        assert "NRM deadlines missed" in page
        assert re.search(r"stage1_decision_overdue</t[dh]>\s*<td[^>]*>2<", page), page
        assert len(re.findall(r'aria-label="Entry', page)) == 3
        assert "subj-d" not in page
        filtered = console.get("/console/entries", params={"basis": "L5c"}).text
        assert "subj-d" in filtered and "subj-a" not in filtered and "basis:" not in filtered

    def test_an_entry_with_its_verified_inclusion_proof(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        exception_use = _entries(ctx, AuditTag.EXCEPTION_USE)[0]
        unwitnessed = console.get(f"/console/entries/{exception_use.seq}")
        assert "NOT VERIFIED" in unwitnessed.text and "no witness is configured" in unwitnessed.text
        witness_seed(ctx)  # the monitoring body's witness is configured
        pending = console.get(f"/console/entries/{exception_use.seq}")
        assert "Not yet covered by a witnessed checkpoint" in pending.text
        _checkpoint(ctx)
        page = console.get(f"/console/entries/{exception_use.seq}")
        assert page.status_code == 200
        assert re.search(r'id="proof-status"><strong>Verified</strong>', page.text)
        with ctx.sessions() as session:
            latest = checkpoints.latest_checkpoint(session)
        assert latest is not None
        assert f'id="proof-tree-size">{latest.tree_size}<' in page.text and latest.root_hash in page.text
        assert f'id="proof-witnesses">{WITNESS}<' in page.text
        assert "Deferred until" in page.text and "covert_investigation" in page.text
        view = _entries(ctx)[-1]
        assert (view.action, subject_of(ctx, view.subject_id), view.details) == ("audit:log:view", "subj-2",
                                                                {"view": "entry", "seq": exception_use.seq})
        # The stored entry is changed behind the console's back: the proof no longer verifies.
        with tampering(ctx.engine) as conn:
            conn.exec_driver_sql(f"UPDATE audit_entries SET purpose = 'other' WHERE seq = {exception_use.seq}")
        assert "NOT VERIFIED" in console.get(f"/console/entries/{exception_use.seq}").text
        assert console.get("/console/entries/999999").status_code == 404

    def test_exports_are_audited_and_hold_no_payload(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        token = csrf_of(console.get("/console/entries").text)
        response = console.post("/console/export", data={"csrf_token": token, "format": "csv", "subject": "subj-2"})
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith('attachment; filename="audit-export-')
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert {r["subject_id"] for r in rows} == {pseudonym_of(ctx, "subj-2")} and len(rows) == 2
        assert {r["exception"] for r in rows} == {"", "L3"}
        export = _entries(ctx)[-1]
        assert (export.action, subject_of(ctx, export.subject_id), export.details["results"]) == (
            "audit:log:export", "subj-2", 2)
        injected = console.post("/console/export", data={"csrf_token": token, "format": "csv", "subject": "subj-5"})
        assert "'=HYPERLINK" in injected.text  # a spreadsheet will not run it
        as_json = console.post("/console/export", data={"csrf_token": token, "format": "json",
                                                        "dashboard": "denied"})
        body = as_json.json()
        assert body["count"] == 2 and body["dashboard"] == "denied"
        assert all(set(e) >= {"seq", "leaf_hash", "basis"} for e in body["entries"])

    def test_verify_now_shows_the_state_of_the_whole_log(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        _checkpoint(ctx)
        home = console.get("/console")
        assert "has not been fully verified yet" in home.text
        response = console.post("/console/verify", data={"csrf_token": csrf_of(home.text)})
        assert response.status_code == 200 and "Last full verification: <strong>passed</strong>" in response.text
        with tampering(ctx.engine) as conn:
            conn.exec_driver_sql("UPDATE audit_entries SET subject_id = 'subj-9' WHERE seq = 2")
        failed = console.post("/console/verify", data={"csrf_token": csrf_of(home.text)})
        assert "FAILED" in failed.text and 'href="/console/entries/2">seq 2</a>: entry_altered' in failed.text
        assert [e.decision for e in _entries(ctx, AuditTag.AUDIT_VERIFY)] == ["allow", "deny"]

    def test_the_api_serves_console_staff_and_logs_their_reads(self, console: TestClient, ctx: GatewayContext) -> None:
        _seed(ctx)
        response = console.get("/v1/audit/entries", params={"subject_id": "subj-2"})
        assert response.status_code == 200
        assert {e["subject_id"] for e in response.json()["entries"]} == {pseudonym_of(ctx, "subj-2")}
        assert _entries(ctx)[-1].details["view"] == "api"

    def test_pages_need_a_session(self, client: TestClient) -> None:
        for path in ("/console", "/console/entries", "/console/entries/1", "/console/dashboards/denied"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/console/login")


def test_sessions_count_stays_bounded(client: TestClient, ctx: GatewayContext, clock: FixedClock) -> None:
    for _ in range(5):
        client.cookies.clear()
        client.get("/console/login")
    clock.advance(timedelta(hours=1))
    client.cookies.clear()
    client.get("/console/login")
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 1


def test_the_console_refuses_a_history_the_operator_rewrote_and_re_signed(
    console: TestClient, ctx: GatewayContext,
) -> None:
    """Issue 15, attack 2, seen from the DPO console: the operator deletes the clinic's entries and
    re-signs every checkpoint with its own keys. The console verifies with the configured checkpoint
    key and witness cosignatures, not the operator's signing key, so it no longer shows anything verified."""
    from tests.trust.attacks import rewrite_history
    from tests.trust.test_history_rewrite import activity

    activity(ctx, 6)
    checkpoint_and_cosign(ctx)
    entry = _entries(ctx)[1]
    assert re.search(r'id="proof-status"><strong>Verified</strong>', console.get(f"/console/entries/{entry.seq}").text)
    home = console.get("/console")
    assert "<strong>passed</strong>" in console.post("/console/verify", data={"csrf_token": csrf_of(home.text)}).text

    assert rewrite_history(ctx, "clinic") >= 3
    page = console.get(f"/console/entries/{entry.seq}").text
    assert "NOT VERIFIED" in page and "changed after the witnesses signed it" in page
    failed = console.post("/console/verify", data={"csrf_token": csrf_of(home.text)}).text
    assert "FAILED" in failed and "cosignature_invalid" in failed
