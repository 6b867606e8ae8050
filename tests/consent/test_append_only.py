"""Consent tables are append-only: a whole lifecycle emits no UPDATE or DELETE on them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from consent import notify_consent_needed
from consent.clock import FixedClock
from gateway.context import GatewayContext
from tests.consent.conftest import Auth, consent_body

APPEND_ONLY = ("consent_records", "consent_recipients", "consent_endings", "consent_receipts", "person_notices",
               "subject_attribute_changes", "mandated_reporter_notices")
_WRITE = re.compile(r"^\s*(UPDATE|DELETE)\b", re.IGNORECASE)


@pytest.fixture
def statements(ctx: GatewayContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", capture)
    yield seen
    event.remove(ctx.engine, "before_cursor_execute", capture)


@pytest.mark.rule("CR14", "CR32")
def test_a_full_lifecycle_never_updates_or_deletes_consent_rows(
    client: TestClient, auth: Auth, new_subject: Callable[..., str], clock: FixedClock, ctx: GatewayContext,
    statements: list[str], service: Any,
) -> None:
    """Grant, refuse, amend, withdraw, expire, reissue, read: only INSERTs and SELECTs touch consent tables."""
    sid = new_subject(open_cases=[{"recipient_agency_id": "police"}])
    client.post(f"/v1/subjects/{sid}/attributes", headers=auth("ngo"),
                json={"changes": {"declined_nrm": True}, "reason": "person_request"})
    client.post(f"/v1/subjects/{sid}/mandated-reporter-notices", headers=auth("ngo"), json={
        "given_at": "2026-11-24T09:00:00Z", "notice_version": "v1", "language": "en"})
    refused = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(sid, notice_version=None))
    assert refused.status_code == 422
    first = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(sid)).json()["consent"]["id"]
    second = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        sid, supersedes=first, recipients=[{"agency_id": "shelter"}, {"agency_id": "clinic"}],
        reissue_access_code=True)).json()["consent"]["id"]
    cj = client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        sid, purpose="criminal_justice", recipients=[{"agency_id": "police"}],
        cj_option="formal_report_and_witness")).json()["consent"]["id"]
    assert client.post(f"/v1/consents/{cj}/withdraw", headers=auth("ngo"),
                       json={"channel": "in_person"}).status_code == 200
    client.post("/v1/consents", headers=auth("ngo"), json=consent_body(
        sid, purpose="healthcare", recipients=[{"agency_id": "clinic"}],
        expires_at=(clock.now() + timedelta(hours=1)).isoformat()))
    clock.advance(timedelta(hours=2))
    with service() as svc:
        assert len(svc.record_expiries()) == 1
        notify_consent_needed(svc.session, sid, purpose="healthcare", recipient_agency_id="clinic", now=clock.now())
    for path in (f"/v1/consents/{second}", f"/v1/consents/{first}/history", f"/v1/consents/{second}/card",
                 f"/v1/subjects/{sid}/consents?in_force=true", f"/v1/subjects/{sid}/attribute-history"):
        assert client.get(path, headers=auth("ngo")).status_code == 200

    joined = "\n".join(statements)
    assert "INSERT INTO consent_endings" in joined and "INSERT INTO consent_records" in joined  # we saw the writes
    offending = [s for s in statements if _WRITE.match(s) and any(t in s for t in APPEND_ONLY)]
    assert offending == []
