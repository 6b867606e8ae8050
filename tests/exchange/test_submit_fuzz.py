"""Whatever a sender puts in a manifest, the answer is a precise 4xx and nothing is stored (never a 500)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gateway.context import GatewayContext
from gateway.exchange.models import Envelope
from tests.conftest import Registry
from tests.exchange.conftest import Auth, Case, plan, sealed, submit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**31, 2**31) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
MANIFEST_KEYS = ["type", "v", "envelope_id", "plan_id", "subject_id", "purpose", "sender_agency_id",
                 "sender_key_id", "recipient_agency_id", "recipient_key_id", "fields", "preview", "created_at"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(MANIFEST_KEYS), value=json_values)
def test_any_corrupted_manifest_value_is_a_4xx_and_stores_nothing(
    client: TestClient, auth: Auth, registry: Registry, case: Case, ctx: GatewayContext, key: str, value: Any
) -> None:
    body = sealed(client, auth, registry, plan(client, auth, case), approve=False)
    assume(body["manifest"][key] != value)  # an unchanged manifest would (rightly) be accepted
    body["manifest"][key] = value
    response = submit(client, auth, body, key=f"fuzz-{key}-{hash(repr(value))}")
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["reason"]
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Envelope)) == 0
