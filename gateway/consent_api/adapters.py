"""What the gateway passes into ``consent``: an audit sink, the registry, the receipt key.

``consent`` cannot import the gateway (imports flow one way), so it declares small
protocols and this module implements them over the gateway's own audit log and registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from consent import Actor as ConsentActor
from consent import AgencyInfo, AuditAction, ConflictError, ConsentError, ConsentService, NotFoundError, RefusedError
from consent.clock import Clock
from consent.receipts import ReceiptSigner
from consent.vocabulary import ActorKind
from crypto.passwords import SecretHasher

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..deps import Caller
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..registry.models import Agency, AgencyKind


class GatewayAuditSink:
    """Writes consent's audit entries into the gateway's tamper-evident log (same transaction)."""

    def __init__(self, clock: Clock, request_id: str | None = None) -> None:
        self.clock = clock
        self.request_id = request_id

    def record(
        self,
        session: Session,
        *,
        action: AuditAction,
        decision: str,
        reason: str | None,
        subject_id: str | None,
        purpose: str | None,
        recipient_agency_id: str | None,
        classes: Sequence[str],
        basis: Mapping[str, Any],
        details: Mapping[str, Any],
        actor: ConsentActor,
    ) -> None:
        event = AuditEvent(
            AuditTag(str(action)), decision=decision, reason=reason, subject_id=subject_id, purpose=purpose,
            recipient_agency_id=recipient_agency_id, classes_requested=tuple(classes), basis=dict(basis),
            details=dict(details),
        )
        record(session, event, actor=Actor(agency_id=actor.agency_id, role=actor.role, user=actor.user),
               at=self.clock.now(), request_id=self.request_id)


class RegistryDirectory:
    """The registry, as consent sees it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, agency_id: str) -> AgencyInfo | None:
        agency = self.session.get(Agency, agency_id)
        if agency is None:
            return None
        return AgencyInfo(
            id=agency.id, name=agency.name, kind=agency.kind, jurisdiction=agency.jurisdiction,
            mandated_reporter=agency.mandated_reporter, statutory_duties=tuple(agency.statutory_duties),
            addressable=agency.kind != AgencyKind.GATEWAY_OPERATOR,
        )


def receipt_signer(ctx: GatewayContext) -> ReceiptSigner:
    issuer = ctx.settings.issuer.rstrip("/")
    seed, kid = ctx.purpose_seed("receipts")
    return ReceiptSigner(seed=seed, issuer=issuer, portal_url=issuer + "/portal", kid=kid)


def secret_hasher(ctx: GatewayContext) -> SecretHasher:
    return ctx.secret_hasher()


def consent_service(ctx: GatewayContext, session: Session, request_id: str | None = None) -> ConsentService:
    return ConsentService(
        session, clock=ctx.clock, audit=GatewayAuditSink(ctx.clock, request_id),
        directory=RegistryDirectory(session), signer=receipt_signer(ctx), hasher=secret_hasher(ctx),
    )


def proven_staff(caller: Caller) -> tuple[str, str]:
    """The staff member a consent or subject record names, and their role: always the signed-in person
    the token acts for (RFC 8693), read from their account. The routes demand that person's token
    (``x-person-token``); a body naming a staff member is refused before this (schemas.PersonRecorded)."""
    person = caller.person
    if person is None:
        raise Forbidden("person_token_required",
                        "This record names the staff member who made it: act for them with their person token.")
    return person.account_id, person.policy_role or sorted(person.roles)[0]


def actor_of(caller: Caller, staff_id: str | None = None) -> ConsentActor:
    return ConsentActor(kind=ActorKind.AGENCY, agency_id=caller.agency_id, role=caller.kind, user=staff_id)


@contextmanager
def consent_errors() -> Iterator[None]:
    """Translate consent's errors into the gateway's problem documents."""
    try:
        yield
    except NotFoundError as exc:
        raise NotFound(exc.reason) from None
    except ConflictError as exc:
        raise Conflict(exc.reason, exc.detail) from None
    except RefusedError as exc:
        raise Unprocessable(exc.reason, exc.detail, extra={"failures": [f.as_dict() for f in exc.failures]}) from None
    except ConsentError as exc:  # pragma: no cover - every subclass is mapped above
        raise Unprocessable(exc.reason, exc.detail) from None
