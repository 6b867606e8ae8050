"""Issue 17, attack 3: a duress session cannot be told apart from a real one.

Two people with the same consent: one signs in with the PIN, the other with the duress PIN.
The same requests, in the same order, get the same answers (status, headers, page), once ids
and tokens are put aside; afterwards nothing the decoy did is anywhere but in its own session,
and the advocate has the silent alert.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from consent.clock import FixedClock
from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from gateway.portal.models import PortalAlert, PortalRequest
from tests.conftest import ISSUER
from tests.portal.conftest import OWNER, Auth, PortalPerson, csrf_of, make_person, sign_in

IGNORED_HEADERS = {"set-cookie", "date", "content-length", "x-request-id"}


def _normal(text: str, me: PortalPerson, other: PortalPerson) -> str:
    text = text.replace(me.consent_id, "MY-CONSENT").replace(other.consent_id, "OTHER-CONSENT")
    text = text.replace(me.subject_id, "ME").replace(other.subject_id, "OTHER")
    text = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value="T"', text)
    return re.sub(r"req_[A-Za-z0-9_-]{16}", "req_ID", text)


def _script(client: TestClient, me: PortalPerson, other: PortalPerson,
            clock: FixedClock) -> list[tuple[str, int, dict[str, str], str]]:
    """The observer's walk through the account; every answer, normalised."""
    seen = []

    def note(label: str, response: object) -> None:
        r = response  # httpx.Response
        headers = {k: v for k, v in r.headers.items() if k not in IGNORED_HEADERS}  # type: ignore[attr-defined]
        seen.append((label, r.status_code, headers, _normal(r.text, me, other)))  # type: ignore[attr-defined]

    for path in ("/p/", "/p/past", "/p/shared", "/p/rules", "/p/requests", "/p/complaint", "/p/correction"):
        note(path, client.get(path))
    token = csrf_of(client.get("/p/").text)
    note("complaint", client.post("/p/requests", data={"csrf_token": token, "kind": "complaint",
                                                        "about": OWNER, "message": "They watch me."}))
    clock.advance(timedelta(seconds=1))  # two requests in the same second are listed in id order
    note("correction", client.post("/p/requests", data={"csrf_token": token, "kind": "correction", "topic": "D5",
                                                         "message": "My language is wrong."}))
    note("empty", client.post("/p/requests", data={"csrf_token": token, "kind": "complaint", "message": " "}))
    clock.advance(timedelta(minutes=1))  # the withdrawal's notice is the newest
    note("withdraw", client.post(f"/p/choices/{me.consent_id}/withdraw", data={"csrf_token": token}))
    for path in ("/p/", "/p/past", "/p/requests"):
        note(path + " after", client.get(path))
    note("withdraw again", client.post(f"/p/choices/{me.consent_id}/withdraw", data={"csrf_token": token}))
    note("withdraw unknown", client.post("/p/choices/cns_nobody/withdraw", data={"csrf_token": token}))
    note("withdraw other's", client.post(f"/p/choices/{other.consent_id}/withdraw", data={"csrf_token": token}))
    note("language", client.post("/p/lang", data={"csrf_token": token, "lang": "fr", "next": "/p/past"}))
    return seen


@pytest.mark.rule("ASVS-6.3.8")
def test_a_duress_session_answers_exactly_as_a_real_one(client: TestClient, auth: Auth, registry: object,
                                                        ctx: GatewayContext, clock: FixedClock) -> None:
    real_person = make_person(client, auth)
    duress_person = make_person(client, auth)
    real = TestClient(create_app(context=ctx), base_url=ISSUER, raise_server_exceptions=False)
    forced = TestClient(create_app(context=ctx), base_url=ISSUER, raise_server_exceptions=False)
    assert sign_in(real, real_person.code, real_person.pin).status_code == 303
    assert duress_person.duress_pin
    assert sign_in(forced, duress_person.code, duress_person.duress_pin).status_code == 303
    with ctx.sessions() as session:
        entries_before = session.scalar(select(func.count()).select_from(AuditEntry))
    seen_forced = _script(forced, duress_person, real_person, clock)
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries_before, \
            "the decoy wrote to the audit log"
    seen_real = _script(real, real_person, duress_person, clock)
    for a, b in zip(seen_real, seen_forced, strict=True):
        if a != b:  # show where, then fail
            print("\n".join(difflib.unified_diff(a[3].splitlines(), b[3].splitlines(), lineterm="")), a[:3], b[:3])
        assert a == b, f"{a[0]}: a real and a duress session differ"
    assert "They watch me" not in seen_forced[-1][3]
    # What the card shows was in force in the decoy.
    assert "Stop this" in seen_forced[0][3]
    # Nothing the decoy did happened.
    status = client.get(f"/v1/consents/{duress_person.consent_id}", headers=auth(OWNER)).json()["status"]
    assert status == "in_force"
    assert client.get(f"/v1/consents/{real_person.consent_id}", headers=auth(OWNER)).json()["status"] == "withdrawn"
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PortalRequest)
                              .where(PortalRequest.subject_id == duress_person.subject_id)) == 0
        alerts = list(session.scalars(select(PortalAlert).where(PortalAlert.subject_id == duress_person.subject_id)))
    assert [a.code for a in alerts] == ["duress_sign_in"]
    # The decoy ends with its session: a new duress sign-in starts from the card again.
    forced.post("/p/leave", data={"csrf_token": csrf_of(forced.get("/p/").text)})
    assert sign_in(forced, duress_person.code, duress_person.duress_pin).status_code == 303
    assert "Stop this" in forced.get("/p/").text
