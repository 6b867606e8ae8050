"""Shared fixtures: both databases, a fixed clock, a gateway app, and registered agencies.

Every database test runs twice, on SQLite and on a real PostgreSQL server that the test
session starts itself (``tests/support/postgres.py``) unless ``GATEWAY_TEST_POSTGRES_URL``
points at one. ``GATEWAY_TEST_DATABASES=sqlite`` narrows a quick local run; CI runs both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from connectors.assertion import token_request_form
from consent.clock import FixedClock
from crypto.keys import AgencyKeyPair, generate_agency_keys, generate_signing_seed
from gateway import migrate
from gateway.app import build_context, create_app
from gateway.audit.log import Actor
from gateway.context import GatewayContext
from gateway.models import metadata
from gateway.registry import service
from gateway.registry.models import AgencyKind, KeyKind
from gateway.settings import Settings
from gateway.setup import enrol_demo_keys
from tests.support.postgres import throwaway_cluster

if TYPE_CHECKING:
    from tests.support.staff import People

pytest_plugins = ["tests.support.browser", "tests.support.staff"]

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ISSUER = "https://testserver"
# A handler answering a key its response model does not declare fails here (production drops and logs it);
# servers the tests start inherit it.
os.environ.setdefault("GATEWAY_STRICT_ANSWERS", "1")

BACKENDS = [b.strip() for b in os.environ.get("GATEWAY_TEST_DATABASES", "sqlite,postgresql").split(",") if b]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of each backend, migrated once per session with the real Alembic history."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gateway.db'}"
    elif request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        raise ValueError(f"unknown backend {request.param}")
    migrate.upgrade(url)
    return url


def empty_database(url: str) -> None:
    """Delete every row of every table, children first."""
    from tests.support.tamper import tampering  # the append-only tables refuse DELETE on SQLite

    engine = create_engine(url)
    with tampering(engine) as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def db_url(migrated_database: str) -> Iterator[str]:
    """The migrated database, emptied after the test."""
    yield migrated_database
    empty_database(migrated_database)


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database for tests that run on one backend only (browser tests: what the
    browser sees does not depend on the database, and the same flows run on both through HTTP)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite-only') / 'gateway.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(scope="session")
def signing_seed() -> bytes:
    return generate_signing_seed()


class _PendingPolicy:
    name = "pending"
    version = "none"

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        return None


@pytest.fixture(scope="session")
def policy_bundle():  # type: ignore[no-untyped-def]
    try:
        from gateway.policy.bundle import PolicyBundle
    except ImportError:
        return None
    return PolicyBundle.load(Path(__file__).resolve().parent.parent / "policies")


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path, issuer=ISSUER,
                    argon2_time_cost=1, argon2_memory_kib=8, background_worker=False)


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock, signing_seed: bytes, policy_bundle) -> Iterator[GatewayContext]:  # type: ignore[no-untyped-def]
    if policy_bundle is None:
        policy = _PendingPolicy()
    else:
        from gateway.policy.factory import build_engine

        policy = build_engine("embedded", bundle=policy_bundle)
    context = build_context(settings, clock=clock, signing_seed=signing_seed, policy=policy)
    yield context
    context.engine.dispose()


@pytest.fixture
def app(ctx: GatewayContext):  # type: ignore[no-untyped-def]
    return create_app(context=ctx)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Registry:
    """Agencies registered for a test, with the private keys they hold."""

    keys: dict[str, AgencyKeyPair]
    key_ids: dict[str, dict[str, str]]


AGENCIES = [
    ("iom", AgencyKind.IOM),
    ("unhcr", AgencyKind.UNHCR),
    ("police", AgencyKind.POLICE),
    ("shelter", AgencyKind.SHELTER),
    ("clinic", AgencyKind.HEALTHCARE),
    ("ngo", AgencyKind.NGO),
    ("operator", AgencyKind.GATEWAY_OPERATOR),
]


def register(ctx: GatewayContext, agency_id: str, kind: AgencyKind, *, verified: bool = True,
             jurisdiction: str = "NL", vetted: bool = True, **extra: object) -> tuple[AgencyKeyPair, dict[str, str]]:
    keypair = generate_agency_keys()
    public = keypair.public()
    ids: dict[str, str] = {}
    actor = Actor(role="operator", user="test")
    now = ctx.clock.now()
    with ctx.sessions() as session, session.begin():
        service.register_agency(
            session,
            service.AgencySpec(id=agency_id, name=f"{agency_id} agency", kind=kind, jurisdiction=jurisdiction,
                               vetted=vetted, **{"confidentiality_policy_version": "conf-2026-1", **extra}),  # type: ignore[arg-type]
            actor=actor, now=now,
        )
        if not verified:
            for kind_, b64 in ((KeyKind.ENCRYPTION, public.encryption_b64), (KeyKind.SIGNING, public.signing_b64)):
                ids[str(kind_)] = service.add_key(session, agency_id, kind_, b64, actor=actor, now=now).id
            return keypair, ids
        # Verified keys are enrolled by the agency itself (bindings its signing key signed, with a
        # one-time secret): the gateway uses no key that the agency did not bind.
        for key in enrol_demo_keys(session, agency_id, keypair, actor=actor, now=now):
            ids[key.kind] = key.id
    return keypair, ids


@pytest.fixture
def registry(ctx: GatewayContext) -> Registry:
    reg = Registry(keys={}, key_ids={})
    for agency_id, kind in AGENCIES:
        reg.keys[agency_id], reg.key_ids[agency_id] = register(ctx, agency_id, kind)
    return reg


TokenFor = Callable[..., str]


@pytest.fixture
def token_for(client: TestClient, registry: Registry, clock: FixedClock) -> TokenFor:
    """Get a real access token through the token endpoint with a private_key_jwt assertion."""

    def get(agency_id: str, scope: str | None = None) -> str:
        form = token_request_form(agency_id, registry.keys[agency_id].signing_seed, f"{ISSUER}/oauth/token",
                                  scope=scope, now=clock.now().timestamp())
        response = client.post("/oauth/token", data=form)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    return get


@pytest.fixture
def auth(token_for: TokenFor, people: People) -> Callable[..., dict[str, str]]:
    """Headers of an agency's client acting for a signed-in staff member through a person token
    (RFC 8693): ``person=<name>`` (created on first use with ``roles``, a caseworker by default), or the
    agency's default staff member (tests/support/staff.py ``DEFAULT_PERSON``). Person-bound actions
    (planning, consents, subjects) need a person; ``system=True`` is the agency's system alone, for
    machine work and for the tests that show it refused."""

    def headers(agency_id: str, scope: str | None = None, person: str | None = None,
                roles: tuple[str, ...] = ("caseworker",), system: bool = False) -> dict[str, str]:
        if system:
            return {"Authorization": f"Bearer {token_for(agency_id, scope)}"}
        if person is not None:
            return people.headers(agency_id, person, *roles, scope=scope)
        return people.default_headers(agency_id, scope)

    return headers
