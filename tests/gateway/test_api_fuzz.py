"""schemathesis over every operation of the OpenAPI document, as every kind of caller: no 500, no
status the document does not declare, every response of the declared media type.

Bounded and deterministic (``EXAMPLES`` per operation, caller and mode, ``derandomize``), so it
runs in the suite like any other test, on SQLite only (the same requests reach PostgreSQL in the
HTTP tests of each module). The cases are generated once per operation and mode and sent as every
caller: generation, not the requests, is where the time goes. ``FUZZ_EXAMPLES`` widens a local run.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import AGENCIES, ISSUER, Registry, TokenFor, empty_database
from tests.gateway.test_authz_matrix import ROUTES as MATRIX
from tests.support.staff import People

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Anonymous and every agency of the test registry (the operator, NGOs, a mandated reporter, recipients).
ROLES: list[str | None] = [None, *[agency_id for agency_id, _ in AGENCIES]]
PEOPLE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "an ngo caseworker": ("ngo", "fuzz-caseworker", ("caseworker",)),
    "an ngo supervisor and staff administrator": ("ngo", "fuzz-admin", ("supervisor", "administrator")),
    "the operator's administrator": ("operator", "fuzz-op-admin", ("administrator",)),
}
"""Signed-in people (person tokens): without them every person-bound operation stops at 403 and its
body is never fuzzed past the role check."""


@pytest.fixture(scope="module")
def _fuzz_database() -> Iterator[str]:
    """A migrated SQLite database in memory-backed storage where there is one: the fuzz makes about a
    thousand audited writes, and on a disk each waits for its fsync."""
    from gateway import migrate

    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as folder:
        url = f"sqlite:///{Path(folder) / 'gateway.db'}"
        migrate.upgrade(url)
        yield url


@pytest.fixture
def db_url(_fuzz_database: str) -> Iterator[str]:
    yield _fuzz_database
    empty_database(_fuzz_database)


@pytest.mark.timeout(900)  # bounded work (EXAMPLES per operation and mode, sent as each caller)
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_operation_answers_500_or_an_undocumented_status(
    app: Any, client: TestClient, registry: Registry, token_for: TokenFor, people: People,
    mode: schemathesis.GenerationMode,
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    callers: dict[str, dict[str, str]] = {"anonymous": {}}
    callers.update({str(role): {"Authorization": f"Bearer {token_for(role)}"} for role in ROLES if role})
    callers.update({label: people.headers(agency, name, *roles) for label, (agency, name, roles) in PEOPLE.items()})
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    sent = 0
    for operation in operations:
        cases = _cases(operation.as_strategy(generation_mode=mode))
        for label, headers in callers.items():
            for case in cases:
                _check(client, case, headers, f"{operation.label} as {label}", failures)
                sent += 1
    assert not failures, "\n".join(failures)
    assert sent >= len(operations) * len(callers)  # every operation reached as every caller


def _send(client: TestClient, case: Any, headers: dict[str, str]) -> Any:
    """The case through the test's own client (the app's lifespan already runs; one event loop)."""
    kwargs = case.as_transport_kwargs(base_url=ISSUER, headers={**(case.headers or {}), **headers})
    data = kwargs.pop("data", None)
    extra: dict[str, Any] = {}
    if isinstance(data, bytes | str):
        extra["content"] = data
    elif data is not None:
        extra["data"] = data
    if "json" in kwargs:
        extra["json"] = kwargs.pop("json")
    client.cookies.clear()
    for name, value in (kwargs.get("cookies") or {}).items():
        client.cookies.set(name, value)
    return client.request(kwargs.pop("method"), kwargs.pop("url"), params=kwargs.get("params"),
                          headers=kwargs.get("headers"), **extra)


def _cases(strategy: Any) -> list[Any]:
    """``EXAMPLES`` cases of one operation (deterministic: ``derandomize``), to send as every caller."""
    drawn: list[Any] = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def draw(case: Any) -> None:
        drawn.append(case)

    with contextlib.suppress(Unsatisfiable):
        draw()
    return drawn


def _check(client: TestClient, case: Any, headers: dict[str, str], label: str, failures: list[str]) -> None:
    try:
        response = _send(client, case, headers)
        case.validate_response(response, checks=CHECKS)
    except (Exception, BaseExceptionGroup) as exc:
        failures.append(f"{label}: {' | '.join(str(exc).splitlines()[:6])} [{case.as_curl_command()[:300]}]")


def _provoke(client: TestClient, method: str, path: str, token: str | None, *, ids: str = "", **kwargs: Any) -> int:
    """The operation's status with every path id one no object has (``ids``, or the parameter's name)."""
    url = re.sub(r"\{(\w+)\}", lambda m: ids or m.group(1), path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    client.cookies.clear()
    return client.request(method.upper(), url, headers=headers, **kwargs).status_code


class _DownPolicy:
    """A policy engine that does not answer (as an unreachable OPA server)."""

    name = "down"
    version = "none"

    def ready(self) -> bool:
        return False


def _with_policy_down(app: Any, send: Any) -> int:
    ctx = app.state.ctx
    policy, ctx.policy = ctx.policy, _DownPolicy()
    try:
        return int(send())
    finally:
        ctx.policy = policy


def test_every_documented_error_status_is_reachable(
    app: Any, client: TestClient, registry: Registry, token_for: TokenFor,
) -> None:
    """Each error status the document declares is answered by its operation: provoked here (no token,
    a scope the caller lacks, malformed or oversized bodies, unknown or overlong ids), or named in
    REACHED_BY with the test that provokes it. Independent of the fuzz above (no shared state)."""
    from gateway.openapi import build_openapi

    doc = build_openapi(app)
    tokens = {role: token_for(role) for role in ROLES if role is not None}
    # Tokens narrowed to one scope each: between them, every scope check refuses one of them.
    narrowed = [token_for("ngo", "subjects:write"), token_for("ngo", "audit:read")]
    # First, while the log has no checkpoint (the provocations below make some).
    latest = "/v1/audit/checkpoints/latest"
    reached: dict[tuple[str, str], set[int]] = {("get", latest): {_provoke(client, "get", latest, tokens["ngo"])}}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            seen = reached.setdefault((method, path), set())
            documented = {int(s) for s in operation["responses"] if not s.startswith("2")}
            has_body = "requestBody" in operation and path != "/oauth/token"
            for status in sorted(documented - seen):
                if status == 401 and path == "/oauth/token":
                    seen.add(_provoke(client, method, path, None, data={
                        "grant_type": "client_credentials", "client_assertion": "a.b.c",
                        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}))
                elif status == 400 and path == "/oauth/token":
                    seen.add(_provoke(client, method, path, None, data={"grant_type": "password"}))
                elif status == 403 and path.endswith("/enrol"):  # no token: a secret nobody issued
                    seen.add(_provoke(client, method, path, None, json={"secret": "s" * 32, "bindings": [
                        {"binding": {"kind": "ed25519"}, "signature": "A" * 86}]}))
                elif status == 503 and path == "/readyz":
                    seen.add(_with_policy_down(app, functools.partial(_provoke, client, method, path, None)))
                elif status == 401:
                    seen.add(_provoke(client, method, path, None))
                elif status == 400 and has_body:
                    seen.add(_provoke(client, method, path, tokens["operator"], content=b"{not json",
                                      headers={"content-type": "application/json"}))
                elif status == 413:
                    seen.add(_provoke(client, method, path, tokens["ngo"], content=b"x" * 1_100_000,
                                      headers={"content-type": "application/json"}))
                elif status == 403:
                    seen.update(_provoke(client, method, path, token, json={}) for token in narrowed)
                elif status in (404, 422):
                    junk = {p["name"]: "-1" + "x" * 300 for p in operation.get("parameters", [])
                            if p["in"] == "query"}
                    for role in ROLES[1:]:
                        seen.add(_provoke(client, method, path, tokens[str(role)], json={}))
                        seen.add(_provoke(client, method, path, tokens[str(role)], params=junk))
                        seen.add(_provoke(client, method, path.replace("{", "-1x{"), tokens[str(role)],
                                          params=junk))
                        seen.add(_provoke(client, method, path, tokens[str(role)], ids="9" * 12))
                        seen.add(_provoke(client, method, path, tokens[str(role)], ids="x" * 300))
    # test_authz_matrix.py::test_another_agency_gets_404_on_owned_objects asserts 404 on each route it
    # classifies as owned, with a valid body and another agency's (or an absent) object id.
    for (method, path), (kind, _) in MATRIX.items():
        if kind == "owned":
            reached.setdefault((method.lower(), path), set()).add(404)
    for (method, path, status), (test, marker) in REACHED_BY.items():
        if status in {int(s) for s in doc["paths"].get(path, {}).get(method, {}).get("responses", {})}:
            assert asserts_status(test, status, path, marker), f"{test} does not show {status} on {path}"
            reached.setdefault((method, path), set()).add(status)
    missing = {f"{m.upper()} {p}": sorted({int(s) for s in op["responses"] if not s.startswith("2")}
                                          - reached[(m, p)])
               for p, item in doc["paths"].items() for m, op in item.items()}
    unreached = sorted(f"{k}: {status}" for k, v in missing.items() for status in v)
    assert not unreached, "\n".join(unreached)


TESTS = Path(__file__).resolve().parent.parent


def _functions(module: Path) -> dict[str, str]:
    """Top-level function name -> source, of a test module and the conftest files above it."""
    found: dict[str, str] = {}
    for path in [*(d / "conftest.py" for d in reversed(module.parents) if TESTS in (d, *d.parents)), module]:
        if path.is_file():
            source = path.read_text()
            for node in ast.parse(source).body:
                if isinstance(node, ast.FunctionDef):
                    found[node.name] = ast.get_source_segment(source, node) or ""
    return found


def asserts_status(test: str, status: int, path: str, marker: str) -> bool:
    """Whether ``test`` ("tests/x.py::name") requests the operation and checks for ``status``: its source
    holds the status and ``marker``: a static part of ``path`` ("/ack") it requests, or a helper of the
    test's module or conftest that it calls and whose own source requests the path's last segment."""
    file, name = test.split("::")
    functions = _functions(TESTS.parent / file)
    source = functions.get(name, "")
    last = [part for part in path.split("/") if part and not part.startswith("{")][-1].split("{")[0]
    if not re.search(rf"(?<![\d.]){status}(?![\d.])", source):
        return False
    if marker.startswith("/"):
        return marker in path and marker in source
    return re.search(rf"\b{marker}\(", source) is not None and f"/{last}" in functions.get(marker, "")


_STAFF_FIELDS_REFUSED = ("tests/staff/test_person_bound.py::"
                         "test_every_record_route_refuses_a_staff_field_from_the_signed_in_person_too")
REACHED_BY: dict[tuple[str, str, int], tuple[str, str]] = {
    ("put", "/v1/linkage/subjects/{subject_id}/key", 422):
        ("tests/linkage/test_person_bound_keys.py::"
         "test_a_linkage_key_is_enrolled_and_removed_by_a_signed_in_person_only", "/key"),
    ("delete", "/v1/linkage/subjects/{subject_id}/key", 422):
        ("tests/linkage/test_person_bound_keys.py::"
         "test_a_linkage_key_is_enrolled_and_removed_by_a_signed_in_person_only", "/key"),
    ("get", "/v1/policy/bundle.tar.gz", 404):
        ("tests/trust/test_signed_policy_opa.py::test_a_gateway_without_a_signed_bundle_serves_none",
         "/bundle.tar.gz"),
    ("get", "/v1/policy/bundle.tar.gz", 304):
        ("tests/trust/test_signed_policy_opa.py::"
         "test_the_gateway_serves_the_verified_bundle_byte_for_byte_with_its_revision", "/bundle.tar.gz"),
    # Issue 22: a court order or legal hold on the subject.
    ("post", "/v1/retention/subjects/{subject_id}/seals", 409):
        ("tests/retention/test_broadcast.py::"
         "test_a_hold_refuses_erasure_and_the_schedule_until_lifted_then_erasure_tells_every_recipient", "/seals"),
    ("post", "/v1/retention/subjects/{subject_id}/seals", 422):
        ("tests/retention/test_broadcast.py::test_a_malformed_seal_is_refused_and_nothing_is_sealed", "/seals"),
    ("post", "/v1/retention/subjects/{subject_id}/orders", 422):
        ("tests/retention/test_broadcast.py::test_a_malformed_order_is_refused", "/orders"),
    ("post", "/v1/retention/subjects/{subject_id}/erasure", 409):
        ("tests/retention/test_broadcast.py::"
         "test_a_hold_refuses_erasure_and_the_schedule_until_lifted_then_erasure_tells_every_recipient", "/erasure"),
    ("get", "/v1/subjects", 404):
        ("tests/workspace/test_people_api.py::test_an_agency_lists_only_its_own_people_newest_first", "/v1/subjects"),
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/revocation", 404):
        ("tests/trust/test_revocation.py::test_a_revocation_of_an_unknown_or_foreign_key_is_404_and_audited",
         "/revocation"),
    # Person-bound record routes: a machine token is refused (403) before its body is read; the 422s
    # come from a person's token with a staff field in the body.
    ("post", "/v1/subjects", 422): (_STAFF_FIELDS_REFUSED, "/v1/subjects"),
    ("post", "/v1/subjects/{subject_id}/attributes", 422): (_STAFF_FIELDS_REFUSED, "/attributes"),
    ("post", "/v1/subjects/{subject_id}/mandated-reporter-notices", 422):
        (_STAFF_FIELDS_REFUSED, "/mandated-reporter-notices"),
    ("post", "/v1/consents", 422): (_STAFF_FIELDS_REFUSED, "/v1/consents"),
    ("post", "/v1/consents/{consent_id}/withdraw", 422): (_STAFF_FIELDS_REFUSED, "/withdraw"),
    ("post", "/v1/plans", 409):
        ("tests/exceptions/test_grants.py::test_no_exception_is_used_without_its_second_approver", "plan_with"),
    ("post", "/v1/plans/{plan_id}/preview-approvals", 404):
        ("tests/exchange/test_disclosure_attacks.py::test_a_refused_submit_records_only_the_callers_own_ids", "sealed"),
    ("post", "/v1/plans/{plan_id}/preview-approvals", 409):
        ("tests/exchange/test_submit.py::test_same_idempotency_key_replays_the_first_answer", "sealed"),
    ("post", "/v1/plans/{plan_id}/preview-approvals", 422):
        ("tests/exchange/test_disclosure_attacks.py::"
         "test_extra_keys_in_the_manifest_are_refused_and_never_stored", "sealed"),
    ("post", "/v1/envelopes", 404):
        ("tests/exchange/test_disclosure_attacks.py::test_a_refused_submit_records_only_the_callers_own_ids", "submit"),
    ("post", "/v1/envelopes", 409):
        ("tests/exchange/test_delivery.py::"
         "test_never_acknowledged_envelope_expires_and_the_sender_is_told", "/envelopes"),
    ("post", "/v1/envelopes/{envelope_id}/ack", 409):
        ("tests/exchange/test_delivery.py::test_never_acknowledged_envelope_expires_and_the_sender_is_told", "/ack"),
    ("post", "/v1/agencies", 409):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/agencies"),
    ("post", "/v1/agencies/{agency_id}/keys", 409):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/keys"),
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/verify", 409):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/verify"),
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/verify", 422):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/verify"),
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/revoke", 409):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/revoke"),
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify", 409):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/verify"),
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify", 422):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/verify"),
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/revoke", 409):
        ("tests/gateway/test_registry.py::test_key_register_verify_revoke_through_the_api", "/revoke"),
    ("get", "/v1/agencies/{agency_id}/recipient-key", 404):
        ("tests/trust/test_key_substitution.py::"
         "test_a_key_the_operator_substitutes_is_refused_by_the_sender_and_reported_by_the_victim", "/recipient-key"),
    ("post", "/v1/consents", 404):
        ("tests/exchange/test_disclosure_attacks.py::"
         "test_the_recipient_does_not_see_plans_about_it_that_were_refused", "open_case"),
    ("post", "/v1/consents/{consent_id}/withdraw", 404):
        ("tests/portal/test_pages.py::test_another_persons_consent_cannot_be_withdrawn", "_withdraw"),
    ("post", "/v1/consents/{consent_id}/withdraw", 409):
        ("tests/consent/test_lifecycle.py::test_ended_consents_cannot_be_withdrawn_or_amended_again", "withdraw"),
    ("post", "/v1/exceptions", 404):
        ("tests/exceptions/test_grants.py::test_no_exception_is_used_without_its_second_approver", "request_grant"),
    ("post", "/v1/exceptions", 422):
        ("tests/exceptions/test_grants.py::"
         "test_s35_a_basis_or_scenario_the_agency_did_not_publish_is_refused_at_once", "request_grant"),
    ("post", "/v1/exceptions/explanations", 422):
        ("tests/exceptions/test_grants.py::"
         "test_l1_is_granted_only_for_a_person_told_the_agencys_exception_policy_at_the_outset", "_explain"),
    ("post", "/v1/exceptions/{grant_id}/approvals", 404):
        ("tests/exceptions/test_grants.py::test_no_exception_is_used_without_its_second_approver", "approve"),
    ("post", "/v1/exceptions/{grant_id}/approvals", 409):
        ("tests/exceptions/test_grants.py::test_no_exception_is_used_without_its_second_approver", "approve"),
    ("post", "/v1/children/{subject_id}/interviews", 404):
        ("tests/exceptions/test_interviews.py::"
         "test_adults_and_past_dates_and_bad_bodies_are_refused_with_reasons", "_schedule"),
    ("post", "/v1/children/{subject_id}/interviews", 422):
        ("tests/exceptions/test_interviews.py::"
         "test_an_interview_without_the_guardian_advocate_is_rejected_and_nothing_is_scheduled", "_schedule"),
    ("post", "/v1/subjects/{subject_id}/portal-access/pin", 404):
        ("tests/portal/test_api.py::test_only_the_owner_agency_with_subjects_write", "_set"),
    ("post", "/v1/subjects/{subject_id}/portal-access/pin", 409):
        ("tests/portal/test_api.py::test_no_code_yet_is_a_conflict", "_set"),
    ("post", "/v1/subjects/{subject_id}/portal-access/pin", 422):
        ("tests/portal/test_api.py::test_unusable_pins_are_refused", "/pin"),
    ("post", "/v1/statistics/cost", 422):
        ("tests/statistics/test_console.py::test_the_monitoring_body_sees_both_the_log_and_statistics", "/cost"),
    ("post", "/v1/statistics/releases", 422):
        ("tests/statistics/test_release.py::"
         "test_the_api_serves_only_the_rapporteur_and_the_monitoring_body", "/releases"),
    ("get", "/v1/statistics/releases/{release_id}.json", 404):
        ("tests/statistics/test_release.py::"
         "test_the_api_serves_only_the_rapporteur_and_the_monitoring_body", "/releases"),
    ("get", "/v1/statistics/releases/{release_id}.csv", 404):
        ("tests/statistics/test_release.py::"
         "test_the_api_serves_only_the_rapporteur_and_the_monitoring_body", "/releases"),
    ("post", "/v1/staff/accounts", 422):
        ("tests/staff/test_accounts.py::test_an_agency_administrator_manages_only_their_own_staff", "/accounts"),
    ("post", "/v1/staff/accounts/{account_id}/recovery", 404):
        ("tests/staff/test_accounts.py::test_an_agency_administrator_manages_only_their_own_staff", "/recovery"),
    ("post", "/v1/staff/accounts/{account_id}/revocation", 404):
        ("tests/staff/test_accounts.py::test_an_agency_administrator_manages_only_their_own_staff", "/revocation"),
    ("put", "/v1/staff/plans-need-person", 422):
        ("tests/staff/test_person_bound.py::test_no_agency_can_turn_the_person_requirement_off", "/plans-need-person"),
    ("put", "/v1/staff/deferral-maximum", 422):
        ("tests/staff/test_attacks.py::"
         "test_an_unbounded_deferral_is_refused_and_a_bounded_one_reaches_the_portal_on_its_day", "/deferral-maximum"),
    ("post", "/v1/linkage/epochs", 409):
        ("tests/linkage/test_linkage_api.py::"
         "test_rotating_the_secret_deletes_the_old_keys_and_refuses_them", "/epochs"),
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/verify", 404):
        ("tests/gateway/test_documented_statuses.py::"
         "test_verifying_a_key_or_endpoint_nobody_registered_or_of_another_agency_is_404", "/verify"),
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify", 404):
        ("tests/gateway/test_documented_statuses.py::"
         "test_verifying_a_key_or_endpoint_nobody_registered_or_of_another_agency_is_404", "/verify"),
    ("get", "/v1/audit/entries/{seq}/inclusion-proof", 409):
        ("tests/gateway/test_documented_statuses.py::"
         "test_an_entry_after_the_latest_checkpoint_has_no_inclusion_proof_yet_409", "/inclusion-proof"),
    ("post", "/v1/children/{subject_id}/best-interests", 422):
        ("tests/gateway/test_documented_statuses.py::"
         "test_a_best_interests_reference_that_is_text_not_a_code_is_422_and_nothing_is_stored", "/best-interests"),
    ("post", "/v1/information-requests/{request_id}/answer", 422):
        ("tests/gateway/test_documented_statuses.py::"
         "test_an_answer_that_tries_to_choose_its_own_fields_is_422_and_the_request_stays_open", "/answer"),
    ("get", "/v1/subjects/{subject_id}/portal-access", 409):
        ("tests/gateway/test_documented_statuses.py::"
         "test_portal_access_of_a_person_without_an_access_code_is_409", "/portal-access"),
    ("post", "/v1/subjects/{subject_id}/portal-access/unlock", 409):
        ("tests/gateway/test_documented_statuses.py::"
         "test_portal_access_of_a_person_without_an_access_code_is_409", "/unlock"),
    # Issue 16: asking for and declining information are a person's; a machine token stops at 403.
    ("post", "/v1/information-requests", 422):
        ("tests/rules/test_information_requests.py::test_a_request_carries_no_personal_data",
         "/v1/information-requests"),
    ("post", "/v1/information-requests/{request_id}/decline", 422):
        ("tests/staff/test_identity_gaps.py::test_asking_for_and_declining_information_need_the_signed_in_person",
         "/decline"),
}
"""(method, path, status) -> (the test that reaches it, the path segment or helper it calls): for a
status that needs an object in a particular state, reached by that module's own tests."""
