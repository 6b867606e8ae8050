"""The OpenAPI document as the API really answers: every status with an RFC 9457 problem schema,
the security schemes, and the token endpoint's form.

FastAPI describes each operation's success and, for a request it validates, a 422 with its own
validation-error shape. The gateway answers every error as ``application/problem+json``
(:mod:`gateway.http`), so this module rewrites each operation's responses from what the route
depends on: a bearer token (401), a scope or role check (403), a path id (404), a JSON body
(400 malformed, 413 too large, 422 invalid), plus the statuses its handler raises for a rule
(``EXTRA``), less those it cannot answer (``NOT_REACHABLE``). ``tests/gateway/test_api_docs.py``
validates the document; ``tests/gateway/test_api_fuzz.py`` checks that nothing answers a status the
document does not declare and provokes every documented error status (with
``tests/gateway/test_documented_statuses.py`` for those that need an object in a given state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from .auth.permission import Permission
from .console.auth import COOKIE
from .deps import get_caller, require_operator

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document. Branch on `reason`; `detail` is for people and never holds "
                   "personal data or submitted values.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "reason"],
    "properties": {
        "type": {"type": "string", "description": "urn:safe-referral:problem:<reason>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "reason": {"type": "string", "pattern": "^[a-z0-9_]+$", "description": "Stable machine-readable code"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "description": "For a request that does not match the schema: where and what, never the value",
            "items": {"type": "object", "properties": {
                "loc": {"type": "array", "items": {"type": "string"}},
                "type": {"type": "string"}, "msg": {"type": "string"}}},
        },
        "error": {"type": "string", "description": "Token endpoint only: the RFC 6749 error code"},
        "error_description": {"type": "string", "description": "Token endpoint only (RFC 6749 section 5.2)"},
    },
    "additionalProperties": True,
}

TOKEN_FORM: dict[str, Any] = {
    "title": "TokenRequest",
    "type": "object",
    "required": ["grant_type", "client_assertion_type", "client_assertion"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_assertion_type": {"type": "string",
                                  "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]},
        "client_assertion": {"type": "string", "description": "An Ed25519-signed JWT (RFC 7523): iss = sub = the "
                             "agency id, aud = the token endpoint or the issuer, exp at most 300 s ahead, a fresh "
                             "jti"},
        "client_id": {"type": "string", "description": "Optional; must name the assertion's client"},
        "scope": {"type": "string", "description": "Space-separated; narrows the agency's scopes"},
    },
}

TOKEN_RESPONSE: dict[str, Any] = {
    "title": "TokenResponse",
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "maximum": 300},
        "scope": {"type": "string"},
    },
}

DESCRIPTIONS = {
    400: "Malformed request (the body is not JSON, or is missing)",
    401: "No valid credentials (a Bearer access token, or a console session where noted)",
    403: "The caller may not do this (scope or role)",
    404: "No such object, or it is not the caller's to see",
    409: "Conflicts with the object's state",
    410: "No longer available",
    413: "The request body is too large",
    422: "The request does not match the schema, or a rule refused it (see `reason`)",
    503: "A dependency is not reachable",
}

EXTRA: dict[tuple[str, str], set[int]] = {
    ("post", "/oauth/token"): {400, 401},
    ("get", "/readyz"): {503},
    # An id in the body names an object that does not exist, or is not the caller's.
    ("post", "/v1/plans"): {404, 409},
    ("post", "/v1/consents"): {404},
    ("get", "/v1/subjects"): {404},  # issue 20: an unknown or foreign "before" anchor
    ("post", "/v1/exceptions"): {404},
    ("post", "/v1/exceptions/explanations"): {404},
    ("post", "/v1/envelopes"): {404, 409},
    ("get", "/v1/audit/checkpoints/latest"): {404},
    # The object's state refuses the request.
    ("post", "/v1/plans/{plan_id}/preview-approvals"): {409},
    ("post", "/v1/envelopes/{envelope_id}/ack"): {409},
    ("post", "/v1/exceptions/{grant_id}/approvals"): {409},
    ("post", "/v1/consents/{consent_id}/withdraw"): {409},
    ("post", "/v1/agencies"): {409},
    ("post", "/v1/agencies/{agency_id}/keys"): {409},
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/verify"): {409},
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/revoke"): {409},
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/verify"): {409},
    ("post", "/v1/agencies/{agency_id}/endpoints/{endpoint_id}/revoke"): {409},
    ("get", "/v1/audit/entries/{seq}/inclusion-proof"): {409},
    ("get", "/v1/subjects/{subject_id}/portal-access"): {409},
    ("post", "/v1/subjects/{subject_id}/portal-access/pin"): {409},
    ("post", "/v1/subjects/{subject_id}/portal-access/unlock"): {409},
    # Added by later waves: a missing object, a refused caller or body the dependencies do not show.
    ("get", "/v1/audit/checkpoint/witnessed"): {404},
    ("post", "/v1/audit/checkpoint/cosignatures"): {422},
    ("post", "/v1/agencies/{agency_id}/enrol"): {403},
    ("post", "/v1/agencies/{agency_id}/keys/{key_id}/revocation"): {404},
    ("post", "/v1/linkage/queries"): {404},
    ("post", "/v1/linkage/epochs"): {409},  # an epoch id is used once (found by the fuzz with person tokens)
    ("get", "/v1/statistics/catalogue"): {403},
    ("post", "/v1/statistics/cost"): {403},
    ("post", "/v1/statistics/releases"): {403},
    ("get", "/v1/statistics/releases/{release_id}.json"): {403},
    ("get", "/v1/statistics/releases/{release_id}.csv"): {403},
    ("get", "/v1/policy/bundle.tar.gz"): {404},  # a gateway that verified no signed bundle serves none
    # Issue 22: a court order or legal hold on the subject refuses a seal or an erasure.
    ("post", "/v1/retention/subjects/{subject_id}/seals"): {409},
    ("post", "/v1/retention/subjects/{subject_id}/erasure"): {409},
}
"""Statuses a handler raises beyond those its dependencies and parameters imply."""

NOT_REACHABLE: dict[tuple[str, str], set[int]] = {
    # The one-time secret is checked first and names its agency (issued only for one that exists):
    # an unknown agency is refused as an unknown secret, 403 ``enrolment_refused``.
    ("post", "/v1/agencies/{agency_id}/enrol"): {404},
    # Public key transparency: an agency with no key events (or no such agency) has an empty list.
    ("get", "/v1/agencies/{agency_id}/key-events"): {404},
}
"""Statuses the generic rules imply that the operation cannot answer (kept out of the document)."""


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _scope_checked(calls: list[Callable[..., Any]]) -> bool:
    return any(c is require_operator or getattr(c, "__name__", "").startswith("require_") for c in calls)


def _reader(calls: list[Callable[..., Any]]) -> bool:
    return any(getattr(c, "__name__", "") == "get_reader" for c in calls)


def _can_be_invalid(param: Any) -> bool:
    """A parameter FastAPI can refuse: typed other than as text, or constrained (length, pattern, range)."""
    field_info = getattr(param, "field_info", None)
    annotation = getattr(field_info, "annotation", None)
    return bool(getattr(field_info, "metadata", None)) or annotation not in (str, str | None)


def error_statuses(dependant: Dependant, method: str, path: str) -> set[int]:
    """The error statuses an operation can answer, from what it depends on and what it takes."""
    calls = list(_calls(dependant))
    statuses: set[int] = set()
    if get_caller in calls or _reader(calls):
        statuses.add(401)
    if _scope_checked(calls) or _reader(calls):
        statuses.add(403)
    if dependant.path_params:
        statuses.add(404)
    if any(_can_be_invalid(p) for p in (*dependant.path_params, *dependant.query_params, *dependant.header_params)):
        statuses.add(422)
    if dependant.body_params:
        statuses.update({400, 413, 422})
    statuses |= EXTRA.get((method, path), set())
    statuses -= NOT_REACHABLE.get((method, path), set())
    return statuses


def operations(app: FastAPI) -> Iterator[tuple[str, str, Dependant]]:
    """(method, path, dependant) of every documented operation."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        dependant = getattr(context, "dependant", None) or route.dependant
        for method in sorted(context.methods or route.methods or ()):
            yield method.lower(), str(context.path_format), dependant


def build_openapi(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["TokenRequest"] = TOKEN_FORM
    schemas["TokenResponse"] = TOKEN_RESPONSE
    base = app.title
    components["securitySchemes"] = {
        "agencyToken": {
            "type": "oauth2",
            "description": "A five-minute access token from /oauth/token, obtained with a private_key_jwt client "
                           "assertion (RFC 7523) signed with the agency's verified Ed25519 key. Send it as "
                           "`Authorization: Bearer <token>`.",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {
                str(permission): permission.description for permission in Permission}}},
        },
        "consoleSession": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                           "description": f"A DPO console session of {base} (audit reads only)"},
    }
    for method, path, dependant in operations(app):
        operation = doc["paths"].get(path, {}).get(method)
        if operation is not None:
            _rewrite(operation, dependant, method, path)
    token = doc["paths"]["/oauth/token"]["post"]
    token["requestBody"] = {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenRequest"}}}}
    token["responses"]["200"] = {"description": "An access token",
                                 "content": {"application/json": {"schema": {
                                     "$ref": "#/components/schemas/TokenResponse"}}}}
    return doc


def _rewrite(operation: dict[str, Any], dependant: Dependant, method: str, path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status in sorted(error_statuses(dependant, method, path)):
        responses[str(status)] = {"description": DESCRIPTIONS.get(status, "Refused"),
                                  "content": {PROBLEM: {"schema": PROBLEM_REF}}}
    calls = list(_calls(dependant))
    if _reader(calls):
        operation["security"] = [{"agencyToken": [str(Permission.AUDIT_READ)]}, {"consoleSession": []}]
    elif get_caller in calls:
        operation["security"] = [{"agencyToken": []}]


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`build_openapi`'s document at ``/openapi.json`` (built once)."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(build_openapi(app))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]
