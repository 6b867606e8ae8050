"""Building the policy engine's input document (pure: values in, a dict out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kernel.timestamps import rfc3339

from ..registry.models import Agency


class MissingUserRole(ValueError):
    """A decision was about to be made without the role of the person it is made for. There is no
    default role: every caller passes the role of a signed-in person (from their account)."""


def agency_document(agency: Agency, *, user_role: str, user_id: str | None = None) -> dict[str, Any]:
    """The requester as the policy sees it. ``user_role`` is required and never defaulted (fail closed):
    a missing role used to become "caseworker", lifting the volunteer firewall for the agency's system."""
    if not user_role:
        raise MissingUserRole("a policy decision needs the role of the person it is made for")
    return {
        "agency_id": agency.id,
        "kind": agency.kind,
        "jurisdiction": agency.jurisdiction,
        "user_role": user_role,
        "user_id": user_id,
    }


def policy_input(
    *,
    now: datetime,
    requester: Agency,
    recipient: Agency | None,
    recipient_id: str,
    recipient_key_verified: bool,
    purpose: str,
    fields: Sequence[str],
    subject: dict[str, Any],
    consents: list[dict[str, Any]],
    user_role: str,
    user_id: str | None = None,
    recipient_user_role: str | None = None,
    exception: dict[str, Any] | None = None,
    court_order: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The input of ``data.gateway.decision`` (documented in ``policies/README.md``)."""
    recipient_doc: dict[str, Any] = {"agency_id": recipient_id, "kind": None, "jurisdiction": None,
                                     "represents_state": None, "registered": False, "key_verified": False}
    if recipient is not None:
        recipient_doc = {
            "agency_id": recipient.id,
            "kind": recipient.kind,
            "jurisdiction": recipient.jurisdiction,
            "represents_state": recipient.represents_state,
            "registered": recipient.vetting_status == "vetted",
            "key_verified": recipient_key_verified,
        }
    if recipient_user_role is not None:
        recipient_doc["user_role"] = recipient_user_role
    return {
        "now": rfc3339(now),
        "requester": agency_document(requester, user_role=user_role, user_id=user_id),
        "recipient": recipient_doc,
        "purpose": purpose,
        "fields": sorted(set(fields)),
        "subject": subject,
        "consents": consents,
        "exception": exception,
        "court_order": court_order,
    }
