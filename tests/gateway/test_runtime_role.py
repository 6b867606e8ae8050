"""The replicas' login role (gateway/runtime_role.py): made by the migration as a member of gateway_app,
refused when it names the owner or a superuser, quoted by PostgreSQL itself; a role that can rewrite the
audit log is named as the reason a production replica will not start. On SQLite there is no role (the
triggers refuse rewrites) and nothing to check."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.runtime_role import RuntimeRoleError, ensure_runtime_role, runtime_role_problem


@pytest.fixture
def owner_url(db_url: str) -> Iterator[str]:
    yield db_url


def test_the_runtime_role_is_made_a_member_of_gateway_app_and_cannot_rewrite_the_audit_log(owner_url: str) -> None:
    engine = create_engine(owner_url)
    try:
        if engine.dialect.name != "postgresql":
            with engine.connect() as conn:
                assert runtime_role_problem(conn) is None
                with pytest.raises(RuntimeRoleError, match="PostgreSQL"):
                    ensure_runtime_role(conn, "postgresql://someone@db/gateway")
            return
        name = f'gw rt "{secrets.token_hex(3)}'  # a space and a quote: PostgreSQL's own quoting must hold
        password = "pa'ss; DROP ROLE postgres; --"
        runtime = make_url(owner_url).set(username=name, password=password)
        with engine.begin() as conn:
            assert ensure_runtime_role(conn, runtime.render_as_string(hide_password=False)) == name
            assert "may update or delete audit entries" in (runtime_role_problem(conn) or "")  # the owner may
        with engine.begin() as conn:  # again (a re-run of the migration): the same role, updated
            ensure_runtime_role(conn, runtime.render_as_string(hide_password=False))
        try:
            with psycopg.connect(host=runtime.host, port=runtime.port, dbname=runtime.database, user=name,
                                 password=password, autocommit=True) as rt:
                assert rt.execute("SELECT current_user").fetchone() == (name,)
                assert rt.execute("SELECT pg_has_role(current_user, 'gateway_app', 'member')").fetchone() == (True,)
                for rewrite in ("UPDATE audit_entries SET action = action", "DELETE FROM audit_entries",
                                "TRUNCATE audit_entries"):
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        rt.execute(rewrite)
            as_runtime = create_engine(runtime)
            try:
                with as_runtime.connect() as conn:
                    assert runtime_role_problem(conn) is None
            finally:
                as_runtime.dispose()
        finally:
            with engine.begin() as conn:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(text(f"DROP OWNED BY {quoted}"))
                conn.execute(text(f"DROP ROLE {quoted}"))
    finally:
        engine.dispose()


@pytest.fixture
def postgres_owner_url(postgres_url: str) -> Iterator[str]:
    """PostgreSQL only: roles exist there alone (collected once, not skipped on SQLite)."""
    from gateway import migrate

    migrate.upgrade(postgres_url)  # gateway_app is the migration's
    yield postgres_url


def test_a_runtime_url_naming_the_owner_or_a_superuser_is_refused(postgres_owner_url: str) -> None:
    owner_url = postgres_owner_url
    engine = create_engine(owner_url)
    try:
        with engine.begin() as conn:
            owner = conn.execute(text("SELECT current_user")).scalar_one()
            with pytest.raises(RuntimeRoleError, match="owner role"):
                ensure_runtime_role(conn, make_url(owner_url).render_as_string(hide_password=False))
            superuser = f"gw_su_{secrets.token_hex(3)}"
            conn.execute(text(f"CREATE ROLE {superuser} SUPERUSER"))
            try:
                with pytest.raises(RuntimeRoleError, match="superuser"):
                    ensure_runtime_role(conn, make_url(owner_url).set(username=superuser)
                                        .render_as_string(hide_password=False))
                with pytest.raises(RuntimeRoleError, match="no user"):
                    ensure_runtime_role(conn, "postgresql://db.example/gateway")
            finally:
                conn.execute(text(f"DROP ROLE {superuser}"))
            assert owner
    finally:
        engine.dispose()
