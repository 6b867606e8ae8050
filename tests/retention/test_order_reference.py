"""A court order's docket reference names a case, and so a person: it is kept sealed at rest under the
person's subject key, never in clear where a list of docket numbers could confirm who an order is about."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.audit import subject_keys
from gateway.context import GatewayContext
from gateway.retention_models import SubjectOrder
from gateway.sealing import REFERENCE_KEY
from tests.conftest import Registry
from tests.consent.conftest import subject_body
from tests.retention.test_erasure import dump, tables_mentioning

Auth = Callable[..., dict[str, str]]


def test_order_references_are_sealed_under_the_persons_key(
    client: TestClient, auth: Auth, registry: Registry, ctx: GatewayContext,
) -> None:
    subject_id = client.post("/v1/subjects", headers=auth("ngo"), json=subject_body()).json()["id"]
    sealed = client.post(f"/v1/retention/subjects/{subject_id}/seals", headers=auth("ngo"),
                         json={"kind": "sealed", "classes": ["D12"], "reference": "court:2026/118"})
    assert sealed.status_code == 201, sealed.text
    held = client.post(f"/v1/retention/subjects/{subject_id}/orders", headers=auth("ngo"),
                       json={"kind": "legal_hold", "reference": "hold:2026/7"})
    assert held.status_code == 201, held.text

    everything = dump(ctx)
    assert "subject_orders" in everything
    assert tables_mentioning(everything, "court:2026/118", skip=set()) == set()
    assert tables_mentioning(everything, "2026/118", skip=set()) == set()
    assert tables_mentioning(everything, "hold:2026/7", skip=set()) == set()
    with ctx.sessions() as session:
        orders = session.scalars(select(SubjectOrder).where(SubjectOrder.subject_id == subject_id)).all()
        key = subject_keys.existing_text_key(session, subject_id)
        assert key is not None
        opened = {ctx.at_rest().open(REFERENCE_KEY, o.reference, where=o.id, subject_key=key) for o in orders}
    assert opened == {"court:2026/118", "hold:2026/7"}
