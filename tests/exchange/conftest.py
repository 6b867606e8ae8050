"""Exchange fixtures: a case with a consent, sealing helpers, and a live gateway for the SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.referral import make_preview, seal_referral
from consent.clock import FixedClock
from gateway.app import build_context, create_app
from gateway.context import GatewayContext
from gateway.settings import Settings
from tests.conftest import Registry, register
from tests.consent.conftest import consent_body, subject_body
from tests.support.live_server import reserve_port, serve

Auth = Callable[..., dict[str, str]]
SENDER = "ngo"
RECIPIENT = "shelter"
FIELDS = {
    "subject.preferred_name": "Amina",
    "subject.language": "ha",
    "risk.level": "high",
    "risk.known_risks": "Controller searched the previous shelter; do not confirm residence by phone.",
}


@dataclass
class Case:
    subject_id: str
    consent_id: str


def open_case(client: TestClient, auth: Auth, *, purpose: str = "shelter", recipient: str = RECIPIENT,
              classes: tuple[str, ...] = ("D1", "D5", "D12"), sender: str = SENDER, **subject_attrs: Any) -> Case:
    subject = client.post("/v1/subjects", headers=auth(sender), json=subject_body(**subject_attrs))
    assert subject.status_code == 201, subject.text
    subject_id = subject.json()["id"]
    granted = client.post("/v1/consents", headers=auth(sender), json=consent_body(
        subject_id, purpose=purpose, recipients=[{"agency_id": recipient}], data_classes=list(classes)))
    assert granted.status_code == 201, granted.text
    return Case(subject_id=subject_id, consent_id=granted.json()["consent"]["id"])


@pytest.fixture
def case(client: TestClient, auth: Auth, registry: Registry) -> Case:
    return open_case(client, auth)


def plan(client: TestClient, auth: Auth, case: Case, fields: list[str] | None = None,
         recipient: str = RECIPIENT, purpose: str = "shelter", sender: str = SENDER) -> dict[str, Any]:
    response = client.post("/v1/plans", headers=auth(sender), json={
        "subject_id": case.subject_id, "recipient_agency_id": recipient, "purpose": purpose,
        "fields": sorted(fields or FIELDS)})
    assert response.status_code == 200, response.text
    return dict(response.json())


def recipient_key(client: TestClient, auth: Auth, recipient: str = RECIPIENT, sender: str = SENDER) -> dict[str, str]:
    response = client.get(f"/v1/agencies/{recipient}/recipient-key", headers=auth(sender))
    assert response.status_code == 200, response.text
    return dict(response.json())


def sealed(client: TestClient, auth: Auth, registry: Registry, the_plan: dict[str, Any],
           fields: dict[str, Any] | None = None, *, approve: bool = True, language: str = "en",
           sender: str = SENDER) -> dict[str, Any]:
    """Seal the permitted fields as the SDK would, recording the person's preview approval first."""
    values = {k: v for k, v in (fields or FIELDS).items() if k in the_plan["permitted_fields"]}
    preview = make_preview(values, language)
    if approve:
        response = client.post(f"/v1/plans/{the_plan['plan_id']}/preview-approvals",
                               headers=auth(sender, person="advocate"),
                               json={"preview_hash": preview.hash, "channel": "in_person"})
        assert response.status_code == 201, response.text
    return seal_referral(plan=the_plan, fields=values, sender_agency_id=sender, sender_keys=registry.keys[sender],
                         sender_key_id=registry.key_ids[sender]["ed25519"],
                         recipient_key=recipient_key(client, auth, the_plan["recipient_agency_id"], sender),
                         preview=preview)


def submit(client: TestClient, auth: Auth, body: dict[str, Any], key: str = "k-1",  # type: ignore[no-untyped-def]
           sender: str = SENDER):
    return client.post("/v1/envelopes", headers={**auth(sender), "Idempotency-Key": key}, json=body)


# ------------------------------------------------------------------------------ live server

@dataclass
class LiveGateway:
    url: str
    ctx: GatewayContext
    registry: Registry


@pytest.fixture
def live_gateway(db_url: str, tmp_path: Path, signing_seed: bytes, policy_bundle: Any) -> Iterator[LiveGateway]:
    """The real app served by uvicorn on 127.0.0.1, for the SDK (which speaks real HTTP)."""
    from gateway.policy.factory import build_engine

    url = f"http://127.0.0.1:{reserve_port()}"
    settings = Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=url, argon2_time_cost=1,
                        argon2_memory_kib=8, background_worker=False, log_level="WARNING")
    ctx = build_context(settings, signing_seed=signing_seed, policy=build_engine("embedded", bundle=policy_bundle))
    reg = Registry(keys={}, key_ids={})
    from tests.conftest import AGENCIES

    for agency_id, kind in AGENCIES:
        reg.keys[agency_id], reg.key_ids[agency_id] = register(ctx, agency_id, kind)
    port = int(url.rsplit(":", 1)[1])
    try:
        with serve(create_app(context=ctx), port=port) as _:
            yield LiveGateway(url=url, ctx=ctx, registry=reg)
    finally:
        ctx.engine.dispose()


_ = FixedClock  # re-exported for test modules that drive time
