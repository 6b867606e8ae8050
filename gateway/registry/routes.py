"""``/v1/agencies``: the registry directory, key and endpoint lifecycle, and addressing checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from .. import db
from ..audit.log import AuditEvent, record_refusal
from ..audit.tags import AuditTag
from ..auth.permission import Permission
from ..context import GatewayContext
from ..deps import (
    Caller,
    CallerDep,
    ContextDep,
    OperatorDep,
    SessionDep,
    person_token,
    require_operator_person,
    require_scope,
)
from ..errors import GatewayError, NotFound
from ..staff.roles import Entitlement
from . import service
from .models import KeyKind
from .schemas import (
    AgencyCreate,
    AgencyOut,
    EndpointCreate,
    EndpointOut,
    FingerprintReadBack,
    KeyCreate,
    KeyOut,
    RecipientKeyOut,
    Revocation,
)

router = APIRouter(prefix="/v1/agencies", tags=["registry"])
RegistryReader = Annotated[Caller, Depends(require_scope(Permission.REGISTRY_READ))]
FingerprintVerifier = Annotated[Caller, Depends(require_operator_person(Entitlement.VERIFY_FINGERPRINT))]
"""A person of the operator confirms a read-back fingerprint: their person token, not the operator's system."""


def _audit_failed_verification(
    ctx: GatewayContext, caller: Caller, exc: GatewayError, tag: AuditTag, details: dict[str, str]
) -> None:
    if exc.reason == "fingerprint_mismatch":
        record_refusal(ctx.sessions, AuditEvent(tag, decision="deny", reason=exc.reason, details=details),
                       actor=caller.actor(), at=ctx.clock.now())


def _own_or_operator(caller: Caller, agency_id: str) -> None:
    """An agency manages only itself; anything else looks absent (404, never 403)."""
    if not (caller.is_operator or caller.agency_id == agency_id):
        raise NotFound("unknown_agency")


@router.get("", response_model=list[AgencyOut])
def list_agencies(caller: RegistryReader, session: SessionDep) -> list[AgencyOut]:
    """The directory of registered agencies with their public keys and fingerprints."""
    with db.read_transaction(session):
        return [
            AgencyOut.of(a, with_endpoints=caller.is_operator or a.id == caller.agency_id)
            for a in service.list_agencies(session)
            if a.kind != "gateway_operator"
        ]


@router.get("/me", response_model=AgencyOut)
def show_me(caller: CallerDep, session: SessionDep) -> AgencyOut:
    with db.read_transaction(session):
        return AgencyOut.of(service.get_agency(session, caller.agency_id), with_endpoints=True)


@router.get("/{agency_id}", response_model=AgencyOut)
def show_agency(agency_id: str, caller: RegistryReader, session: SessionDep) -> AgencyOut:
    with db.read_transaction(session):
        agency = service.get_agency(session, agency_id)
        return AgencyOut.of(agency, with_endpoints=caller.is_operator or agency.id == caller.agency_id)


@router.post("", response_model=AgencyOut, status_code=201)
def register_agency(body: AgencyCreate, caller: OperatorDep, ctx: ContextDep, session: SessionDep) -> AgencyOut:
    with session.begin():
        agency = service.register_agency(
            session,
            service.AgencySpec(
                id=body.id, name=body.name, kind=body.kind, jurisdiction=body.jurisdiction,
                mandated_reporter=body.mandated_reporter,
                statutory_duties=tuple(str(d) for d in body.statutory_duties),
                confidentiality_policy_version=body.confidentiality_policy_version, vetted=body.vetted,
                exception_policy=tuple(e.model_dump() for e in body.exception_policy),
                represents_state=body.represents_state,
            ),
            actor=caller.actor(),
            now=ctx.clock.now(),
        )
        return AgencyOut.of(agency, with_endpoints=True)


@router.post("/{agency_id}/keys", response_model=KeyOut, status_code=201)
def add_key(agency_id: str, body: KeyCreate, caller: CallerDep, ctx: ContextDep, session: SessionDep) -> KeyOut:
    """Register a new public key. It starts ``pending``, and even verified it is never used (shown
    ``unbound``) unless the agency binds it with its own signature (``.../keys/bindings``, ``.../enrol``)."""
    _own_or_operator(caller, agency_id)
    with session.begin():
        key = service.add_key(session, agency_id, body.kind, body.public_key, actor=caller.actor(),
                              now=ctx.clock.now())
        return KeyOut.of(key)


@router.get("/{agency_id}/keys/{key_id}", response_model=KeyOut)
def show_key(agency_id: str, key_id: str, caller: RegistryReader, session: SessionDep) -> KeyOut:
    with db.read_transaction(session):
        return KeyOut.of(service.get_key(session, agency_id, key_id))


@router.post("/{agency_id}/keys/{key_id}/verify", response_model=KeyOut,
             openapi_extra=person_token(Entitlement.VERIFY_FINGERPRINT))
def verify_key(
    agency_id: str, key_id: str, body: FingerprintReadBack, caller: FingerprintVerifier, ctx: ContextDep,
    session: SessionDep,
) -> KeyOut:
    """Confirm the fingerprint the agency read back over a separate channel. This records a person's
    check; it does not make the key usable: only the agency's own binding does."""
    try:
        with session.begin():
            key = service.verify_key(session, agency_id, key_id, body.fingerprint, actor=caller.actor(),
                                     now=ctx.clock.now())
            return KeyOut.of(key)
    except GatewayError as exc:
        _audit_failed_verification(ctx, caller, exc, AuditTag.REGISTRY_KEY_VERIFY_FAIL,
                                   {"agency_id": agency_id, "key_id": key_id})
        raise


@router.post("/{agency_id}/keys/{key_id}/revoke", response_model=KeyOut)
def revoke_key(
    agency_id: str, key_id: str, body: Revocation, caller: CallerDep, ctx: ContextDep, session: SessionDep
) -> KeyOut:
    _own_or_operator(caller, agency_id)
    with session.begin():
        key = service.revoke_key(session, agency_id, key_id, body.reason, actor=caller.actor(),
                                 now=ctx.clock.now())
        return KeyOut.of(key)


@router.post("/{agency_id}/endpoints", response_model=EndpointOut, status_code=201)
def add_endpoint(
    agency_id: str, body: EndpointCreate, caller: CallerDep, ctx: ContextDep, session: SessionDep
) -> EndpointOut:
    _own_or_operator(caller, agency_id)
    with session.begin():
        ep = service.add_endpoint(session, agency_id, body.url, actor=caller.actor(), now=ctx.clock.now())
        return EndpointOut.of(ep)


@router.get("/{agency_id}/endpoints/{endpoint_id}", response_model=EndpointOut)
def show_endpoint(agency_id: str, endpoint_id: str, caller: CallerDep, session: SessionDep) -> EndpointOut:
    _own_or_operator(caller, agency_id)
    with db.read_transaction(session):
        return EndpointOut.of(service.get_endpoint(session, agency_id, endpoint_id))


@router.post("/{agency_id}/endpoints/{endpoint_id}/verify", response_model=EndpointOut,
             openapi_extra=person_token(Entitlement.VERIFY_FINGERPRINT))
def verify_endpoint(
    agency_id: str, endpoint_id: str, body: FingerprintReadBack, caller: FingerprintVerifier, ctx: ContextDep,
    session: SessionDep,
) -> EndpointOut:
    try:
        with session.begin():
            ep = service.verify_endpoint(session, agency_id, endpoint_id, body.fingerprint,
                                         actor=caller.actor(), now=ctx.clock.now())
            return EndpointOut.of(ep)
    except GatewayError as exc:
        _audit_failed_verification(ctx, caller, exc, AuditTag.REGISTRY_ENDPOINT_VERIFY_FAIL,
                                   {"agency_id": agency_id, "endpoint_id": endpoint_id})
        raise


@router.post("/{agency_id}/endpoints/{endpoint_id}/revoke", response_model=EndpointOut)
def revoke_endpoint(
    agency_id: str, endpoint_id: str, body: Revocation, caller: CallerDep, ctx: ContextDep, session: SessionDep
) -> EndpointOut:
    _own_or_operator(caller, agency_id)
    with session.begin():
        ep = service.revoke_endpoint(session, agency_id, endpoint_id, body.reason, actor=caller.actor(),
                                     now=ctx.clock.now())
        return EndpointOut.of(ep)


@router.get("/{agency_id}/recipient-key", response_model=RecipientKeyOut)
def recipient_key(
    agency_id: str,
    caller: RegistryReader,
    session: SessionDep,
    key_id: Annotated[str | None, Query(max_length=64)] = None,
) -> RecipientKeyOut:
    """The key a sender may seal to now, or 422 with why nothing may be addressed to it."""
    with db.read_transaction(session):
        recipient = service.resolve_recipient(session, agency_id, key_id)
    key = recipient.encryption_key
    return RecipientKeyOut(agency_id=agency_id, kind=str(KeyKind.ENCRYPTION), key_id=key.id,
                           public_key=key.public_key, fingerprint=key.fingerprint)
