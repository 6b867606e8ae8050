"""schemathesis over every operation of the OpenAPI document, as every kind of caller: no 500, no
status the document does not declare, every response of the declared media type.

Bounded and deterministic (``EXAMPLES`` per operation, caller and mode, ``derandomize``), so it
runs in the suite like any other test, on SQLite only (the same requests reach PostgreSQL in the
HTTP tests of each module). ``FUZZ_EXAMPLES`` and ``FUZZ_ALL_ROLES=1`` widen a local run.
"""

from __future__ import annotations

import contextlib
import os
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
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from gateway.registry.models import AgencyKind
from tests.conftest import AGENCIES, ISSUER, Registry, TokenFor, empty_database, register

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
# Anonymous, the operator, an NGO (consents and referrals), a mandated reporter, a recipient.
ROLES: list[str | None] = ([None, *[agency_id for agency_id, _ in AGENCIES]] if os.environ.get("FUZZ_ALL_ROLES")
                           else [None, "operator", "ngo", "police", "shelter"])
OBSERVED: dict[tuple[str, str], set[int]] = {}
"""(method, path) -> statuses seen; test_openapi.py reads it to show documented statuses are reachable."""


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


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_no_operation_answers_500_or_an_undocumented_status(
    app: Any, client: TestClient, registry: Registry, token_for: TokenFor, mode: schemathesis.GenerationMode,
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tokens = {role: token_for(role) for role in ROLES if role is not None}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode)
        for role in ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            _fuzz(client, operation, strategy, headers, f"{operation.label} as {role or 'anonymous'}", failures)
    assert not failures, "\n".join(failures)


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


def _fuzz(client: TestClient, operation: Any, strategy: Any, headers: dict[str, str], label: str,
          failures: list[str]) -> None:
    key = (operation.method.lower(), operation.path)

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = _send(client, case, headers)
            OBSERVED.setdefault(key, set()).add(response.status_code)
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{label}: {' | '.join(str(exc).splitlines()[:6])} [{case.as_curl_command()[:300]}]")

    with contextlib.suppress(Unsatisfiable):
        run()


def _provoke(client: TestClient, method: str, path: str, token: str | None, **kwargs: Any) -> int:
    url = path.replace("{", "").replace("}", "")  # every path id becomes one no object has
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    client.cookies.clear()
    return client.request(method.upper(), url, headers=headers, **kwargs).status_code


def test_every_documented_error_status_is_reachable(
    app: Any, client: TestClient, registry: Registry, token_for: TokenFor, auth: Any, ctx: Any,
) -> None:
    """Each error status the document declares is answered by its operation: seen by the fuzz above,
    provoked here (no token, a scope the caller lacks, malformed or oversized bodies, unknown ids),
    or named in REACHED_BY with the test that provokes it."""
    from gateway.openapi import build_openapi

    doc = build_openapi(app)
    tokens = {role: token_for(role) for role in ROLES if role is not None}
    # Tokens narrowed to one scope each: between them, every scope check refuses one of them.
    narrowed = [token_for("ngo", "subjects:write"), token_for("ngo", "audit:read")]
    # A person-bound operation validates its body only for an entitled person (RFC 8693 token), and a
    # statistics operation only for the monitoring body: both get a chance to answer 422 too.
    person = auth("ngo", person="fuzz-everyone", roles=(
        "caseworker", "advocate", "supervisor", "administrator"))["Authorization"].removeprefix("Bearer ")
    registry.keys["monitor-fuzz"], registry.key_ids["monitor-fuzz"] = register(
        ctx, "monitor-fuzz", AgencyKind.MONITORING_BODY)
    operator_person = auth("operator", person="fuzz-operator-admin", roles=("administrator",))[
        "Authorization"].removeprefix("Bearer ")
    extra_422 = [person, operator_person, token_for("monitor-fuzz")]
    reached = {key: set(statuses) for key, statuses in OBSERVED.items()}
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
                    for token in [*(tokens[str(role)] for role in ROLES[1:]), *extra_422]:
                        seen.add(_provoke(client, method, path, token, json={}))
                        if has_body:  # not an object at all (a body with no required field takes {})
                            seen.add(_provoke(client, method, path, token, json=[]))
                    for role in ROLES[1:]:
                        seen.add(_provoke(client, method, path, tokens[str(role)], params=junk))
                        seen.add(_provoke(client, method, path.replace("{", "-1x{"), tokens[str(role)],
                                          params=junk))
    missing = {f"{m.upper()} {p}": sorted({int(s) for s in op["responses"] if int(s) in GENERIC}
                                          - reached[(m, p)])
               for p, item in doc["paths"].items() for m, op in item.items()}
    unreached = {k: v for k, v in missing.items() if v}
    assert not unreached, "\n".join(f"{k}: {v}" for k, v in unreached.items())


GENERIC = {400, 401, 403, 413, 422}
"""The statuses this test provokes on every operation that declares them. A 404 or 409 that needs an
object in a particular state (``gateway.openapi.EXTRA``) is reached by that module's own tests."""
