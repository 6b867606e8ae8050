"""Issue 15: the database itself refuses to rewrite the audit log and the key directory.

PostgreSQL: the gateway runs as a login role in ``gateway_app``, which may insert into the
audit and key tables but not update, delete or truncate them. SQLite: triggers refuse the same.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import DatabaseError

from consent.clock import FixedClock
from gateway.app import build_context
from gateway.audit.checkpoints import create_checkpoint
from gateway.audit.guard import APP_ROLE
from gateway.audit.log import Actor, AuditEvent, record
from gateway.audit.tags import AuditTag
from gateway.context import GatewayContext
from gateway.registry.models import AgencyKind
from gateway.settings import Settings
from tests.conftest import register

REWRITES = [
    "DELETE FROM audit_entries WHERE seq = 0",
    "UPDATE audit_entries SET decision = 'deny' WHERE seq = 0",
    "DELETE FROM audit_tree_nodes",
    "UPDATE audit_checkpoints SET root_hash = 'x'",
    "DELETE FROM audit_checkpoints",
    "DELETE FROM agency_keys",
    "UPDATE agency_keys SET public_key = 'AAAA'",
    "UPDATE agency_keys SET agency_id = 'someone-else'",
]


@pytest.fixture
def gateway_ctx(db_url: str, settings: Settings, clock: FixedClock, signing_seed: bytes) -> Iterator[GatewayContext]:
    """The gateway as it runs in production: on PostgreSQL, as a login role in gateway_app (not the owner)."""
    url = db_url
    owner = create_engine(db_url)
    role = f"gw_app_{secrets.token_hex(4)}"
    if owner.dialect.name == "postgresql":
        with owner.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN IN ROLE {APP_ROLE}"))
        url = make_url(db_url).set(username=role, password=None).render_as_string(hide_password=False)
    ctx = build_context(settings.model_copy(update={"database_url": url}), clock=clock, signing_seed=signing_seed,
                        policy=object())
    try:
        yield ctx
    finally:
        ctx.engine.dispose()
        if owner.dialect.name == "postgresql":
            with owner.begin() as conn:
                conn.execute(text(f"DROP OWNED BY {role}"))
                conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


def test_the_gateway_appends_but_the_database_refuses_every_rewrite(gateway_ctx: GatewayContext) -> None:
    ctx = gateway_ctx
    # Everything the gateway does to these tables still works: register, add and verify keys, audit, checkpoint.
    register(ctx, "shelter", AgencyKind.SHELTER)
    with ctx.sessions() as session, session.begin():
        record(session, AuditEvent(AuditTag.POLICY_DECISION, decision="allow"), actor=Actor(agency_id="shelter"),
               at=ctx.clock.now())
        create_checkpoint(session, ctx.signing_seed, origin=ctx.settings.issuer, at=ctx.clock.now(),
                          signer=ctx.note_signer())
    refused = 0
    for statement in REWRITES:
        with pytest.raises(DatabaseError) as error, ctx.engine.begin() as conn:
            conn.execute(text(statement))
        message = str(error.value.orig).lower()
        assert "append-only" in message or "immutable" in message or "permission denied" in message, message
        refused += 1
    if ctx.engine.dialect.name == "postgresql":
        for table in ("audit_entries", "agency_keys", "audit_cosignatures"):
            with pytest.raises(DatabaseError, match="permission denied"), ctx.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table}"))
            refused += 1
    assert refused == len(REWRITES) + (3 if ctx.engine.dialect.name == "postgresql" else 0)
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() >= 6
        assert conn.execute(text("SELECT count(*) FROM agency_keys")).scalar_one() == 2
