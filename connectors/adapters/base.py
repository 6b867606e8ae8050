"""The adapter contract and the pull loop that feeds it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from kernel.timestamps import rfc3339

from ..client import GatewayClient
from ..errors import ConnectorError
from ..referral import OpenedReferral

log = logging.getLogger("connectors")
SCHEMA_ID = "https://safe-referral.invalid/schemas/referral-v1.json"


class Adapter(Protocol):
    """Receives opened referrals. ``deliver`` must be idempotent per ``envelope_id``:
    after a crash the same referral can arrive again, and must not appear twice."""

    def deliver(self, document: dict[str, Any]) -> None: ...


def nest(fields: dict[str, Any]) -> dict[str, Any]:
    """``{"subject.language": "fr"}`` -> ``{"subject": {"language": "fr"}}`` (the documented schema)."""
    tree: dict[str, Any] = {}
    for dotted, value in sorted(fields.items()):
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def referral_document(opened: OpenedReferral, received_at: datetime | None = None) -> dict[str, Any]:
    """The JSON an agency system reads (``connectors/referral.schema.json``)."""
    return {
        "$schema": SCHEMA_ID,
        "referral_id": opened.envelope_id,
        "received_at": rfc3339(received_at or datetime.now(UTC)),
        "sender_agency_id": opened.sender_agency_id,
        "subject_id": opened.subject_id,
        "purpose": opened.purpose,
        "preview_hash": (opened.manifest.get("preview") or {}).get("commitment"),
        "data": nest(opened.fields),
    }


def pull_and_deliver(client: GatewayClient, adapter: Adapter, *, limit: int = 20) -> int:
    """Fetch the inbox, open, hand to the adapter, then acknowledge. Returns how many were acknowledged.

    An envelope that does not verify is left unacknowledged (the gateway will expire it and
    tell the sender) and logged by id only.
    """
    done = 0
    for envelope in client.inbox(limit=limit):
        try:
            opened = client.open(envelope)
        except ConnectorError as exc:
            log.warning("envelope %s did not verify: %s", envelope.get("envelope_id"), type(exc).__name__)
            continue
        adapter.deliver(referral_document(opened))
        client.ack(opened.envelope_id)
        done += 1
    return done
