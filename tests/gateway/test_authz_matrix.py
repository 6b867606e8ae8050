"""Every endpoint that holds an object id, called with another agency's token, answers 404.

The table below must classify every ``/v1`` route: a new route that is not listed fails
``test_every_route_is_classified``, so the matrix grows with the API (ASVS 8.2.2, API1).

- ``owned``: the object belongs to one agency; anyone else gets 404 exactly as for an
  absent object (existence must not leak).
- ``directory``: public registry information every vetted agency may read.
- ``operator``: function-level, operator only; anyone else gets 403 whatever the id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crypto.keys import generate_agency_keys
from gateway.context import GatewayContext
from gateway.registry.models import Agency
from tests.conftest import Registry
from tests.exchange.conftest import open_case, plan, sealed, submit
from tests.support.staff import new_staff

Auth = Callable[..., dict[str, str]]

OWNER = "ngo"
OTHER = "shelter"

# (method, path) -> (class, body factory)
ROUTES: dict[tuple[str, str], tuple[str, Callable[[], Any] | None]] = {
    ("GET", "/v1/agencies"): ("directory", None),
    ("GET", "/v1/agencies/me"): ("directory", None),
    ("GET", "/v1/agencies/{agency_id}"): ("directory", None),
    ("POST", "/v1/agencies"): ("operator", lambda: {"id": "x-new", "name": "New", "kind": "ngo",
                                                   "jurisdiction": "NL"}),
    ("POST", "/v1/agencies/{agency_id}/keys"): (
        "owned", lambda: {"kind": "x25519", "public_key": generate_agency_keys().public().encryption_b64}),
    ("GET", "/v1/agencies/{agency_id}/keys/{key_id}"): ("directory", None),
    ("POST", "/v1/agencies/{agency_id}/keys/{key_id}/verify"): ("operator", lambda: {"fingerprint": "AAAA-BBBB"}),
    ("POST", "/v1/agencies/{agency_id}/keys/{key_id}/revoke"): ("owned", lambda: {"reason": "testing"}),
    ("POST", "/v1/agencies/{agency_id}/endpoints"): ("owned", lambda: {"url": "https://ngo.example/hook"}),
    ("GET", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}"): ("owned", None),
    ("POST", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify"): (
        "operator", lambda: {"fingerprint": "AAAA-BBBB"}),
    ("POST", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/revoke"): ("owned", lambda: {"reason": "testing"}),
    ("GET", "/v1/agencies/{agency_id}/recipient-key"): ("directory", None),
    # Issue 15 (tests/trust): transparency evidence is public (hashes, signatures, public keys); a
    # binding is the agency's own; an enrolment is authorised by its one-time secret, not a token.
    ("POST", "/v1/agencies/{agency_id}/keys/bindings"): ("owned", lambda: {"binding": {}, "signature": "A" * 86}),
    ("POST", "/v1/agencies/{agency_id}/enrolment-secrets"): ("operator", None),
    ("POST", "/v1/agencies/{agency_id}/enrol"): ("public", None),
    ("POST", "/v1/agencies/{agency_id}/keys/{key_id}/revocation"): ("public", None),  # the agency's signature
    ("GET", "/v1/agencies/{agency_id}/keys/{key_id}/proof"): ("public", None),
    ("GET", "/v1/agencies/{agency_id}/key-events"): ("public", None),
    ("GET", "/v1/audit/checkpoint"): ("public", None),
    ("GET", "/v1/audit/checkpoint/witnessed"): ("public", None),
    ("GET", "/v1/audit/checkpoint/key"): ("public", None),
    ("GET", "/v1/audit/proof/consistency"): ("public", None),
    ("POST", "/v1/audit/checkpoint/cosignatures"): ("public", None),
    # The owner-signed policy bundle OPA pulls (gateway/policy_bundle_route.py): policy, not secrets.
    ("GET", "/v1/policy/bundle.tar.gz"): ("public", None),
    # Subjects and consents (tests/consent). "create" makes an object owned by the caller and names
    # nobody else's (tests/consent/test_subjects_api.py checks the new subject is the caller's alone).
    ("POST", "/v1/subjects"): ("create", None),
    # Issue 20: lists the caller's own subjects only (tests/workspace/test_people_api.py), like the inbox.
    ("GET", "/v1/subjects"): ("directory", None),
    ("GET", "/v1/subjects/{subject_id}"): ("owned", None),
    ("POST", "/v1/subjects/{subject_id}/attributes"): ("owned", lambda: {
        "changes": {"declined_nrm": True}, "reason": "new_information"}),
    ("GET", "/v1/subjects/{subject_id}/attribute-history"): ("owned", None),
    ("POST", "/v1/subjects/{subject_id}/mandated-reporter-notices"): ("owned", lambda: {
        "given_at": "2026-11-24T09:00:00Z", "notice_version": "mr-v1", "language": "en"}),
    ("GET", "/v1/subjects/{subject_id}/consents"): ("owned", None),
    # The body names OWNER's subject: for anyone else that subject does not exist.
    ("POST", "/v1/consents"): ("owned", lambda: _consent_body(_OWNED["subject_id"])),
    ("GET", "/v1/consents/{consent_id}"): ("owned", None),
    ("GET", "/v1/consents/{consent_id}/history"): ("owned", None),
    ("POST", "/v1/consents/{consent_id}/withdraw"): ("owned", lambda: {
        "channel": "in_person"}),
    ("GET", "/v1/consents/{consent_id}/card"): ("owned", None),
    # The audit log (tests/audit/test_api.py): hashes and signed heads are for every reader; an
    # agency lists, and gets proofs for, only entries it acted in or received.
    # exchange: a plan names a subject (only its owner may plan about it); envelopes belong to their
    # sender (outbox) or their recipient (ack); the inbox only ever lists the caller's own.
    ("POST", "/v1/plans"): ("owned", lambda: {"subject_id": _OWNED["subject_id"], "recipient_agency_id": "shelter",
                                               "purpose": "shelter", "fields": ["subject.language"]}),
    ("POST", "/v1/plans/{plan_id}/preview-approvals"): ("owned", lambda: {
        "preview_hash": "hmac-sha256:" + "0" * 64, "channel": "in_person"}),
    ("POST", "/v1/envelopes"): ("owned", lambda: _OWNED_SUBMIT),
    ("GET", "/v1/inbox"): ("directory", None),
    ("POST", "/v1/envelopes/{envelope_id}/ack"): ("owned", None),
    ("GET", "/v1/outbox/{outbox_envelope_id}"): ("owned", None),
    ("GET", "/v1/audit/checkpoints/latest"): ("directory", None),
    ("GET", "/v1/audit/checkpoints/{tree_size}"): ("directory", None),
    ("POST", "/v1/audit/checkpoints"): ("operator", None),
    ("GET", "/v1/audit/consistency-proof"): ("directory", None),
    ("GET", "/v1/audit/entries"): ("directory", None),
    ("GET", "/v1/audit/entries/{seq}/inclusion-proof"): ("owned", None),
    # The person's portal (tests/portal): PINs, unlock and status are the subject owner's alone;
    # alerts only ever list the caller's own (tests/portal/test_sign_in.py checks another agency's are not).
    ("GET", "/v1/subjects/{subject_id}/portal-access"): ("owned", None),
    ("POST", "/v1/subjects/{subject_id}/portal-access/pin"): ("owned", lambda: {
        "pin": "482913", "duress_pin": "731546"}),
    ("POST", "/v1/subjects/{subject_id}/portal-access/unlock"): ("owned", None),
    ("GET", "/v1/alerts"): ("directory", None),
    # Exception grants (tests/exceptions): a grant belongs to the agency that asked for it; a request
    # names OWNER's subject; the lists and notices only ever hold the caller's own.
    ("POST", "/v1/exceptions"): ("owned", lambda: {
        "subject_id": _OWNED["subject_id"], "basis": "L4", "scenario": "suicide_risk_primary_doctor",
        "justification_code": "risk_high", "justification_ref": "ref-1", "recipient_agency_id": "clinic",
        "purpose": "healthcare", "classes": ["D8"]}),
    ("POST", "/v1/exceptions/explanations"): ("owned", lambda: {
        "subject_id": _OWNED["subject_id"], "given_at": "2026-11-24T09:00:00Z",
        "policy_version": "v1", "language": "en"}),
    ("GET", "/v1/exceptions"): ("directory", None),
    ("GET", "/v1/exceptions/notices"): ("directory", None),
    ("GET", "/v1/exceptions/{grant_id}"): ("owned", None),
    ("POST", "/v1/exceptions/{grant_id}/approvals"): ("owned", None),
    ("POST", "/v1/children/{subject_id}/best-interests"): ("owned", lambda: {
        "reference": "bid-1", "decision_code": "stay_in_best_interests"}),
    ("POST", "/v1/children/{subject_id}/review"): ("owned", None),
    ("POST", "/v1/children/{subject_id}/interviews"): ("owned", lambda: {
        "kind": "investigative_interview", "scheduled_for": "2031-01-01T10:00:00Z", "guardian_advocate_id": "ga-1",
        "guardian_advocate_briefed": True}),
    ("GET", "/v1/children/{subject_id}/interviews"): ("owned", None),
    # Statistics (tests/statistics): function-level, the rapporteur and the monitoring body only.
    ("GET", "/v1/statistics/catalogue"): ("statistics", None),
    ("POST", "/v1/statistics/cost"): ("statistics", lambda: _TABLE),
    ("POST", "/v1/statistics/releases"): ("statistics", lambda: _TABLE),
    ("GET", "/v1/statistics/releases/{release_id}.json"): ("statistics", None),
    ("GET", "/v1/statistics/releases/{release_id}.csv"): ("statistics", None),
    # Record linkage (tests/linkage): keys and questions name OWNER's subject; a match is its asker's
    # and its holder's alone; epochs are the operator's.
    ("PUT", "/v1/linkage/subjects/{subject_id}/key"): ("owned", lambda: {
        "epoch": "e-1", "clk": "AAAA", "check_value": "0" * 24, "version": "srg-linkage/v1"}),
    ("DELETE", "/v1/linkage/subjects/{subject_id}/key"): ("owned", None),
    ("POST", "/v1/linkage/queries"): ("owned", lambda: {"subject_id": _OWNED["subject_id"]}),
    ("GET", "/v1/linkage/matches/{match_id}"): ("owned", None),
    ("POST", "/v1/linkage/epochs"): ("operator", lambda: {"epoch": "e-2"}),
    # Information requests (tests/rules/test_information_requests.py): the requester's and the holder's
    # alone; "create" asks in the caller's own name; answering and declining are the holder's.
    ("POST", "/v1/information-requests"): ("create", None),
    ("GET", "/v1/information-requests"): ("directory", None),
    ("GET", "/v1/information-requests/{request_id}"): ("owned", None),
    ("POST", "/v1/information-requests/{request_id}/answer"): ("owned", lambda: {}),
    ("POST", "/v1/information-requests/{request_id}/decline"): ("owned", lambda: {"reason": "not_held"}),
    # Staff accounts (tests/staff): an agency's administrator manages only their own agency's staff.
    ("GET", "/v1/staff/roles"): ("directory", None),
    ("GET", "/v1/staff/me"): ("directory", None),
    ("GET", "/v1/staff/accounts"): ("directory", None),
    ("POST", "/v1/staff/accounts"): ("directory", None),
    ("PUT", "/v1/staff/deferral-maximum"): ("directory", None),
    ("PUT", "/v1/staff/plans-need-person"): ("directory", None),
    ("POST", "/v1/staff/accounts/{account_id}/recovery"): ("owned", None),
    ("POST", "/v1/staff/accounts/{account_id}/revocation"): ("owned", None),
    # Retention (tests/retention/test_broadcast.py): the subject's owner seals, erases, places and lifts
    # orders; a notice is its recipient's alone; lists are the caller's own.
    ("POST", "/v1/retention/subjects/{subject_id}/seals"): ("owned", lambda: {
        "kind": "sealed", "classes": ["D12"], "reference": "matrix-3"}),
    ("POST", "/v1/retention/subjects/{subject_id}/erasure"): ("owned", None),
    ("POST", "/v1/retention/subjects/{subject_id}/orders"): ("owned", lambda: {
        "kind": "legal_hold", "reference": "matrix-4"}),
    ("POST", "/v1/retention/subjects/{subject_id}/key-details-review"): ("owned", None),
    ("POST", "/v1/retention/orders/{order_id}/lift"): ("owned", None),
    ("GET", "/v1/retention/notices"): ("directory", None),
    ("POST", "/v1/retention/notices/{notice_id}/ack"): ("owned", None),
    ("GET", "/v1/retention/warnings"): ("directory", None),
}
_TABLE = {"source": "persons", "dimensions": ["sex"], "period_from": "2026-01", "period_to": "2026-12"}

#: Person-bound routes: the agency's client acting for a signed-in staff member with these roles.
PERSON_ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/v1/plans/{plan_id}/preview-approvals"): ("caseworker",),
    ("POST", "/v1/subjects/{subject_id}/portal-access/pin"): ("caseworker",),
    ("POST", "/v1/subjects/{subject_id}/portal-access/unlock"): ("caseworker",),
    ("POST", "/v1/exceptions"): ("caseworker",),
    ("POST", "/v1/exceptions/{grant_id}/approvals"): ("supervisor",),
    ("POST", "/v1/exceptions/explanations"): ("caseworker",),
    ("POST", "/v1/children/{subject_id}/best-interests"): ("caseworker",),
    ("POST", "/v1/children/{subject_id}/interviews"): ("caseworker",),
    ("POST", "/v1/staff/accounts/{account_id}/recovery"): ("administrator",),
    ("POST", "/v1/staff/accounts/{account_id}/revocation"): ("administrator",),
    ("POST", "/v1/retention/orders/{order_id}/lift"): ("supervisor",),
}


def _as(auth: Auth, agency_id: str, method: str, path: str) -> dict[str, str]:
    roles = PERSON_ROLES.get((method, path))
    if roles is None:
        return auth(agency_id)
    return auth(agency_id, person=f"matrix-{roles[0]}", roles=roles)

# Headers a route needs before it looks at ownership at all.
EXTRA_HEADERS: dict[tuple[str, str], dict[str, str]] = {("POST", "/v1/envelopes"): {"Idempotency-Key": "matrix"}}

_OWNED: dict[str, str] = {}
_OWNED_SUBMIT: dict[str, Any] = {}


def _consent_body(subject_id: str) -> dict[str, Any]:
    return {
        "subject_id": subject_id, "purpose": "shelter", "recipients": [{"agency_id": "shelter"}],
        "scope": "relevant_portion", "data_classes": ["D5"],
        "explained_items": ["reason", "storage", "access_to_file", "recipients", "scope", "duties_to_share"],
        "notice_version": "v1", "language": "en", "channel": "in_person", "capacity": "has_capacity",
        "expires_at": "2027-11-24T10:00:00Z",
    }


def _v1_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the API, read from the OpenAPI document the app serves."""
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }


def test_every_route_is_classified(app: FastAPI) -> None:
    unclassified = _v1_routes(app) - set(ROUTES)
    assert not unclassified, f"classify these routes in the authorisation matrix: {sorted(unclassified)}"
    stale = set(ROUTES) - _v1_routes(app)
    assert not stale, f"routes listed but gone: {sorted(stale)}"


@pytest.fixture
def owned_ids(client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext) -> dict[str, str]:
    """Objects belonging to OWNER, one per path parameter name."""
    ep = client.post(f"/v1/agencies/{OWNER}/endpoints", headers=auth(OWNER),
                     json={"url": "https://ngo.example/inbox"}).json()
    subject = client.post("/v1/subjects", headers=auth(OWNER), json={}).json()
    consent = client.post("/v1/consents", headers=auth(OWNER), json=_consent_body(subject["id"])).json()
    _OWNED.clear()
    _OWNED.update(subject_id=subject["id"])
    # An envelope OWNER sent (its outbox), a sealed submit of OWNER's (for the submit route), and an
    # envelope addressed to OWNER (its ack).
    case = open_case(client, auth, sender=OWNER, recipient="shelter")
    sent = submit(client, auth, sealed(client, auth, registry, plan(client, auth, case, sender=OWNER),
                                       sender=OWNER), key="m-1", sender=OWNER).json()
    pending_plan = plan(client, auth, case, sender=OWNER)
    _OWNED_SUBMIT.clear()
    _OWNED_SUBMIT.update(sealed(client, auth, registry, pending_plan, sender=OWNER))
    incoming_case = open_case(client, auth, sender="iom", recipient=OWNER, purpose="protection_support")
    incoming_plan = plan(client, auth, incoming_case, ["subject.language", "risk.level"], recipient=OWNER,
                         purpose="protection_support", sender="iom")
    incoming = submit(client, auth, sealed(client, auth, registry, incoming_plan, sender="iom"), key="m-2",
                      sender="iom").json()
    with ctx.sessions() as session, session.begin():
        agency = session.get(Agency, OWNER)
        assert agency is not None
        agency.exception_policy = [{"basis": "L4", "scenarios": ["suicide_risk_primary_doctor"]}]
    grant = client.post("/v1/exceptions", headers=_as(auth, OWNER, "POST", "/v1/exceptions"),
                        json=ROUTES[("POST", "/v1/exceptions")][1]())
    assert grant.status_code == 201, grant.text
    own_entries = client.get("/v1/audit/entries", headers=auth(OWNER), params={"limit": 200}).json()["entries"]
    match_id = _linkage_match(ctx, subject["id"])
    # An information request to OWNER (the holder) about its subject, from the IOM.
    asked = client.post("/v1/information-requests", headers=auth("iom"), json={
        "holder_agency_id": OWNER, "subject_ref": subject["id"], "purpose": "shelter",
        "fields": ["subject.language"], "basis": "consent", "urgency": "medium"})
    assert asked.status_code == 201, asked.text
    # A court access order on OWNER's subject, and a sealing notice to OWNER about the IOM's subject.
    order = client.post(f"/v1/retention/subjects/{subject['id']}/orders", headers=auth(OWNER), json={
        "kind": "access_order", "reference": "matrix-1", "recipient_agency_id": "shelter", "days": 1})
    assert order.status_code == 201, order.text
    told = client.post(f"/v1/retention/subjects/{incoming_case.subject_id}/seals", headers=auth("iom"),
                       json={"kind": "sealed", "reference": "matrix-2"})
    assert told.status_code == 201, told.text
    (notice,) = [n for n in told.json()["notices"] if n["agency_id"] == OWNER]
    return {"request_id": asked.json()["id"], "match_id": match_id, "plan_id": pending_plan["plan_id"],
            "order_id": order.json()["id"], "notice_id": notice["notice_id"],
            "outbox_envelope_id": sent["envelope_id"],
            "envelope_id": incoming["envelope_id"], "agency_id": OWNER, "key_id": registry.key_ids[OWNER]["x25519"],
            "endpoint_id": ep["id"],
            "subject_id": subject["id"], "consent_id": consent["consent"]["id"],
            "seq": str(own_entries[-1]["seq"]), "grant_id": grant.json()["id"],
            "account_id": new_staff(ctx, OWNER, "caseworker").account_id}


def _linkage_match(ctx: GatewayContext, subject_id: str) -> str:
    """A possible match reported to OWNER about its subject (held by the IOM)."""
    from gateway.linkage.models import LinkageMatch, LinkageQuery

    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        session.add(LinkageQuery(id="lq-matrix", agency_id=OWNER, subject_id=subject_id, at=now, outcome="answered",
                                 reason=None, matches=1, key_age_s=None))
        session.flush()
        session.add(LinkageMatch(id="lm-matrix", query_id="lq-matrix", asking_agency_id=OWNER,
                                 asking_subject_id=subject_id, holding_agency_id="iom", holding_subject_id="s-iom",
                                 strength=0.9, created_at=now))
    return "lm-matrix"


def _fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no object factory for a parameter in {path}"
    return path


@pytest.mark.rule("ASVS-8.2.2", "API1")
@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v[0] == "owned"])
def test_another_agency_gets_404_on_owned_objects(
    client: TestClient, auth: Auth, owned_ids: dict[str, str], method: str, path: str
) -> None:
    body_factory = ROUTES[(method, path)][1]
    url = _fill(path, owned_ids)
    kwargs: dict[str, Any] = {"json": body_factory()} if body_factory else {}
    extra = EXTRA_HEADERS.get((method, path), {})
    theirs = client.request(method, url, headers={**_as(auth, OTHER, method, path), **extra}, **kwargs)
    assert theirs.status_code == 404, f"{method} {url}: {theirs.status_code} {theirs.text}"
    absent_ids = {k: ("absent-agency" if k == "agency_id" else str(10**12) if k == "seq" else v + "-absent")
                  for k, v in owned_ids.items()}
    absent = client.request(method, _fill(path, absent_ids), headers={**_as(auth, OTHER, method, path), **extra},
                            **({"json": body_factory()} if body_factory else {}))
    assert absent.status_code == 404
    # "Not yours" and "not there" are indistinguishable.
    assert theirs.json()["detail"] == absent.json()["detail"]
    mine = client.request(method, url, headers={**_as(auth, OWNER, method, path), **extra},
                          **({"json": body_factory()} if body_factory else {}))
    assert mine.status_code != 404, mine.text


@pytest.mark.rule("API5")
@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v[0] == "operator"])
def test_operator_routes_are_403_for_agencies(
    client: TestClient, auth: Auth, owned_ids: dict[str, str], method: str, path: str
) -> None:
    body_factory = ROUTES[(method, path)][1]
    response = client.request(method, _fill(path, owned_ids), headers=auth(OWNER),
                              json=body_factory() if body_factory else None)
    assert response.status_code == 403
    assert response.json()["reason"] == "operator_only"


@pytest.mark.parametrize(("method", "path"), [k for k, v in ROUTES.items() if v[0] == "statistics"])
def test_statistics_routes_are_403_for_other_agencies(
    client: TestClient, auth: Auth, registry: Registry, method: str, path: str
) -> None:
    body_factory = ROUTES[(method, path)][1]
    response = client.request(method, path.replace("{release_id}", "rel_x"), headers=auth(OWNER),
                              json=body_factory() if body_factory else None)
    assert response.status_code == 403
    assert response.json()["reason"] == "statistics_role_required"
