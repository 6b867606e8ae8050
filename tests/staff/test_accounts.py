"""Staff administration by each agency's own administrator, the OpenAPI marking of person-bound
operations, and the DPO console on the same accounts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.accounts import StaffAccount
from gateway.audit.models import AuditEntry
from gateway.context import GatewayContext
from tests.conftest import Registry
from tests.console.conftest import csrf_of
from tests.support.staff import PASSWORD, People, new_staff, totp_code

PERSON_BOUND = {
    ("post", "/v1/exceptions"), ("post", "/v1/exceptions/{grant_id}/approvals"),
    ("post", "/v1/plans/{plan_id}/preview-approvals"), ("post", "/v1/subjects/{subject_id}/portal-access/pin"),
    ("post", "/v1/subjects/{subject_id}/portal-access/unlock"),
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/verify"),
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify"), ("get", "/v1/staff/accounts"),
    ("post", "/v1/staff/accounts"), ("post", "/v1/staff/accounts/{account_id}/recovery"),
    ("post", "/v1/staff/accounts/{account_id}/revocation"), ("put", "/v1/staff/deferral-maximum"),
    ("post", "/v1/exceptions/explanations"), ("post", "/v1/children/{subject_id}/best-interests"),
    ("post", "/v1/children/{subject_id}/interviews"), ("put", "/v1/staff/plans-need-person"),
    # Planning and answering an information request decide with the person's role; consent and
    # subject records name the person (issue #16: no machine-only mode for any of them).
    ("post", "/v1/plans"), ("post", "/v1/information-requests/{request_id}/answer"), ("post", "/v1/consents"),
    ("post", "/v1/consents/{consent_id}/withdraw"), ("post", "/v1/subjects"),
    ("post", "/v1/subjects/{subject_id}/attributes"), ("post", "/v1/subjects/{subject_id}/mandated-reporter-notices"),
    # A linkage question is decided with the asker's role; a decline is the holder's person's decision.
    ("post", "/v1/linkage/queries"), ("post", "/v1/information-requests/{request_id}/decline"),
    ("post", "/v1/information-requests"),
    # Sealing, erasing, court orders and holds (lifting takes a supervisor), and re-checked key details.
    ("post", "/v1/retention/subjects/{subject_id}/seals"), ("post", "/v1/retention/subjects/{subject_id}/erasure"),
    ("post", "/v1/retention/subjects/{subject_id}/orders"), ("post", "/v1/retention/orders/{order_id}/lift"),
    ("post", "/v1/retention/subjects/{subject_id}/key-details-review"),
    # Enrolling or removing a person's linkage key.
    ("put", "/v1/linkage/subjects/{subject_id}/key"), ("delete", "/v1/linkage/subjects/{subject_id}/key"),
}
#: No request body names a staff member any more: consent and subject records name the signed-in person
#: (tests/staff/test_person_bound.py).
CONSENT_RECORDS_NOT_YET_PROVEN: set[str] = set()
NAME_FIELDS = {"approver_id", "requested_by", "user_role", "user_id", "approved_by", "person_present", "set_by",
               "unlocked_by", "recorded_by", "scheduled_by", "obtained_by", "withdrawn_by", "created_by", "changed_by",
               "given_by", "staff_id"}


def test_the_openapi_document_says_which_operations_need_a_persons_token(app: FastAPI) -> None:
    spec = app.openapi()
    marked = {(method, path) for path, operations in spec["paths"].items() for method, op in operations.items()
              if op.get("x-person-token", {}).get("required")}
    assert marked == PERSON_BOUND
    # No request body of the API carries a person's name, role or presence any more.
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith("Out") or "Response" in name or name in CONSENT_RECORDS_NOT_YET_PROVEN:
            continue
        assert not NAME_FIELDS & set(schema.get("properties", {})), name


def test_an_agency_administrator_manages_only_their_own_staff(
    client: TestClient, auth: Any, people: People, registry: Registry, ctx: GatewayContext,
) -> None:
    admin = people.headers("ngo", "ada", "administrator")
    created = client.post("/v1/staff/accounts", headers=admin, json={"roles": ["caseworker", "interpreter"]})
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["username"].startswith("ngo-") and len(account["username"]) == len("ngo-") + 8
    assert account["enrolment_code"]
    unknown = client.post("/v1/staff/accounts", headers=people.headers("ngo", "ada", "administrator"),
                          json={"roles": ["superuser"]})
    assert unknown.status_code == 422 and unknown.json()["reason"] == "unknown_staff_role"
    # A caseworker is not an administrator; the agency's system alone is nobody.
    assert client.post("/v1/staff/accounts", headers=people.headers("ngo", "carol"),
                       json={"roles": ["caseworker"]}).status_code == 403
    assert client.post("/v1/staff/accounts", headers=auth("ngo"), json={"roles": ["caseworker"]}).status_code == 403
    # Another agency's administrator, and the gateway operator's, cannot touch ngo's staff.
    for other in ("shelter", "operator"):
        path = f"/v1/staff/accounts/{account['account_id']}/revocation"
        refused = client.post(path, headers=people.headers(other, "root", "administrator"))
        assert refused.status_code == 404, other
    listed = client.get("/v1/staff/accounts", headers=people.headers("ngo", "ada", "administrator")).json()
    assert account["account_id"] in {a["account_id"] for a in listed}
    assert all(a["agency_id"] == "ngo" for a in listed)
    # Recovery is audited, and an administrator cannot recover or revoke themselves.
    ada = people.id("ngo", "ada")
    for action in ("recovery", "revocation"):
        own = client.post(f"/v1/staff/accounts/{ada}/{action}", headers=people.headers("ngo", "ada", "administrator"))
        assert own.status_code == 422
    recovered = client.post(f"/v1/staff/accounts/{account['account_id']}/recovery",
                            headers=people.headers("ngo", "ada", "administrator"))
    assert recovered.status_code == 200 and recovered.json()["enrolment_code"] != account["enrolment_code"]
    with ctx.sessions() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff:account:recover")).one()
    assert (audited.actor_user, audited.details["account_id"]) == (ada, account["account_id"])
    with ctx.sessions() as session:
        refusals = [e.reason for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "staff:account:refuse").order_by(AuditEntry.seq))]
    assert refusals == ["unknown_staff_role", "unknown_staff_account", "unknown_staff_account", "self_recovery",
                        "self_revocation"]


@pytest.mark.rule("ASVS-6.2")
def test_the_dpo_console_takes_the_same_staff_accounts(
    client: TestClient, registry: Registry, ctx: GatewayContext,
) -> None:
    dpo = new_staff(ctx, "operator", "dpo")
    with ctx.sessions() as session:
        assert session.get(StaffAccount, dpo.account_id) is not None
    form = client.get("/staff/sign-in")
    signed = client.post("/staff/sign-in", data={"csrf_token": csrf_of(form.text), "username": dpo.username,
                                                  "password": PASSWORD, "code": totp_code(ctx, dpo.account_id)},
                         follow_redirects=False)
    assert signed.status_code == 303
    console = client.get("/console", follow_redirects=False)
    assert console.status_code == 200 and dpo.username in console.text
    # A caseworker signed in at /staff is not let into the console.
    client.cookies.clear()
    caseworker = new_staff(ctx, "ngo", "caseworker")
    form = client.get("/staff/sign-in")
    client.post("/staff/sign-in", data={"csrf_token": csrf_of(form.text), "username": caseworker.username,
                                         "password": PASSWORD, "code": totp_code(ctx, caseworker.account_id)})
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_consent_staff_references_are_the_signed_in_person(
    client: TestClient, auth: Any, people: People, registry: Registry,
) -> None:
    from tests.consent.conftest import consent_body, subject_body

    carol = people.headers("ngo", "carol")
    subject = client.post("/v1/subjects", headers=carol, json={"attributes": subject_body()["attributes"]})
    assert subject.status_code == 201, subject.text
    body = consent_body(subject.json()["id"])
    granted = client.post("/v1/consents", headers=people.headers("ngo", "carol"), json=body)
    assert granted.status_code == 201, granted.text
    assert granted.json()["consent"]["obtained_by"] == {"staff_id": people.id("ngo", "carol"), "role": "caseworker"}
    # Naming anyone, even the signed-in person herself, is refused: the record names the token's person.
    for named in ({"staff_id": "staff-1", "role": "advocate"}, {"staff_id": people.id("ngo", "carol"),
                                                                 "role": "supervisor"}):
        refused = client.post("/v1/consents", headers=people.headers("ngo", "carol"),
                              json={**body, "obtained_by": named})
        assert refused.status_code == 422 and refused.json()["reason"] == "staff_field_from_person_token"
    # ... and the agency's system alone records nothing (audited).
    nobody = client.post("/v1/consents", headers=auth("ngo", system=True), json=body)
    assert nobody.status_code == 403 and nobody.json()["reason"] == "person_token_required"
