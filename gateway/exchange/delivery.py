"""Webhook push to verified endpoints, with retries and exponential back-off.

A push carries the same document as the inbox (manifest, signature, ciphertexts) and is
signed by the gateway (``Gateway-Signature``: Ed25519 over the exact body bytes, key id in
``Gateway-Key-Id``) so the agency knows it came from the gateway. A push is at-least-once:
an envelope is claimed with a short lease before the HTTP call and marked delivered after
a 2xx; a crash in between means another push later, and the recipient de-duplicates by
envelope id (its ``ack`` is idempotent). Pushes go only to endpoints still ``verified`` at
push time: a revoked endpoint gets nothing more, and the envelope waits in the inbox.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import select

from crypto.canonical import canonical_json
from crypto.encoding import b64u_encode
from crypto.signing import sign

from ..audit.log import Actor, AuditEvent, record
from ..audit.tags import AuditTag
from ..context import GatewayContext
from ..db import is_postgres
from ..registry.models import AgencyEndpoint, TrustStatus
from .models import DeliveryAttempt, Envelope, EnvelopeStatus
from .service import envelope_document

LEASE = timedelta(seconds=60)
MAX_BACKOFF_S = 3600


def backoff(attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
    """5 s, 10 s, 20 s … capped at an hour, with ±20 % jitter so retries do not stampede."""
    base = min(5 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)
    return timedelta(seconds=base * (0.8 + 0.4 * rand()))


@dataclass(frozen=True)
class _Claim:
    envelope_id: str
    url: str
    endpoint_id: str
    body: bytes


def _claim(ctx: GatewayContext, limit: int) -> list[_Claim]:
    now = ctx.clock.now()
    claims: list[_Claim] = []
    with ctx.sessions() as session, session.begin():
        query = (select(Envelope)
                 .where(Envelope.status == EnvelopeStatus.QUEUED, Envelope.endpoint_id.is_not(None),
                        Envelope.next_attempt_at <= now, Envelope.expires_at > now)
                 .order_by(Envelope.next_attempt_at).limit(limit))
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)  # replicas never push the same envelope at once
        for envelope in session.scalars(query):
            endpoint = session.get(AgencyEndpoint, envelope.endpoint_id)
            if endpoint is None or endpoint.status != TrustStatus.VERIFIED:
                # No more pushes; the recipient can still pull it from its inbox.
                envelope.next_attempt_at = None
                envelope.last_error = "endpoint_not_verified"
                continue
            envelope.next_attempt_at = now + LEASE
            body = canonical_json(envelope_document(envelope))
            claims.append(_Claim(envelope.id, endpoint.url, endpoint.id, body))
    return claims


def push_due(ctx: GatewayContext, http: httpx.Client, *, limit: int = 50) -> dict[str, int]:
    """Push every due envelope once; return counts of delivered and failed attempts."""
    counts = {"delivered": 0, "failed": 0}
    seed, kid = ctx.purpose_seed("webhooks")
    for claim in _claim(ctx, limit):
        headers = {
            "Content-Type": "application/json",
            "Gateway-Key-Id": kid,
            "Gateway-Signature": b64u_encode(sign(seed, claim.body)),
            "Gateway-Envelope-Id": claim.envelope_id,
        }
        status: int | None = None
        error: str | None = None
        try:
            response = http.post(claim.url, content=claim.body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"http_{status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        _settle(ctx, claim, status, error)
        counts["failed" if error else "delivered"] += 1
    return counts


def _settle(ctx: GatewayContext, claim: _Claim, status: int | None, error: str | None) -> None:
    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        envelope = session.get(Envelope, claim.envelope_id)
        if envelope is None:
            return
        session.add(DeliveryAttempt(envelope_id=envelope.id, endpoint_id=claim.endpoint_id, at=now,
                                    outcome="failed" if error else "delivered", status_code=status,
                                    detail=error))
        if error:
            envelope.attempts += 1
            envelope.last_error = error[:80]
            envelope.next_attempt_at = now + backoff(envelope.attempts)
            return
        if envelope.status == EnvelopeStatus.QUEUED:
            envelope.status = EnvelopeStatus.DELIVERED
            envelope.delivered_at = now
        envelope.next_attempt_at = None
        record(session, AuditEvent(
            AuditTag.EXCHANGE_DELIVER, subject_id=envelope.subject_id, purpose=envelope.purpose,
            recipient_agency_id=envelope.recipient_agency_id,
            details={"envelope_id": envelope.id, "channel": "push", "endpoint_id": claim.endpoint_id},
        ), actor=Actor.system(), at=now)
