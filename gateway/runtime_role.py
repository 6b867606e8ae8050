"""The PostgreSQL login role the serving replicas use: a member of ``gateway_app``, never the owner.

Migrations run as the tables' owner (``gateway db upgrade``); the replicas connect as a login role
that is a member of ``gateway_app`` (gateway/audit/guard.py), which may insert into the audit and
key tables but not update, delete or truncate them. :func:`ensure_runtime_role` makes that role
from the URL the replicas are given (``gateway db upgrade --runtime-url-file``: one secret, so the
role and the replicas' URL cannot disagree) and refuses a URL that names the owner or a superuser.
:func:`runtime_role_problem` is what ``gateway serve`` checks in production: a replica that could
rewrite the audit log refuses to start.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from .audit.guard import APP_ROLE

__all__ = ["RuntimeRoleError", "ensure_runtime_role", "runtime_role_problem"]


class RuntimeRoleError(Exception):
    """The runtime URL cannot be used (one line for a person)."""


def ensure_runtime_role(conn: Connection, runtime_url: str) -> str:
    """Create or update the login role ``runtime_url`` names, as a member of ``gateway_app``; its name.

    Run as the owner, after the migrations (which create ``gateway_app`` and its grants).
    """
    if conn.dialect.name != "postgresql":
        raise RuntimeRoleError("a runtime role is a PostgreSQL concept; SQLite refuses rewrites by trigger")
    url = make_url(runtime_url.strip())
    name, password = url.username, url.password
    if not name:
        raise RuntimeRoleError("the runtime database URL names no user")
    owner = conn.execute(text("SELECT current_user")).scalar_one()
    if name == owner:
        raise RuntimeRoleError(f"the runtime database URL names the owner role {name!r}: the replicas must connect "
                               f"as a separate login role in {APP_ROLE}")
    row = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :name"), {"name": name}).first()
    if row is not None and row[0]:
        raise RuntimeRoleError(f"the runtime role {name!r} is a superuser: it could rewrite the audit log")
    verb = "ALTER" if row is not None else "CREATE"
    # format() quotes the name (%I) and the password (%L) as PostgreSQL itself would.
    statement = conn.execute(
        text("SELECT format(:template, CAST(:name AS text), CAST(:password AS text))"),
        {"template": f"{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
                     + (" PASSWORD %L" if password else ""),
         "name": name, "password": password or ""}).scalar_one()
    conn.execute(text(statement))
    grant = conn.execute(text("SELECT format('GRANT %I TO %I', CAST(:app AS text), CAST(:name AS text))"),
                         {"app": APP_ROLE, "name": name}).scalar_one()
    conn.execute(text(grant))
    return str(name)


def runtime_role_problem(conn: Connection) -> str | None:
    """Why the role this connection runs as must not serve (it can rewrite the audit log), or None."""
    if conn.dialect.name != "postgresql":
        return None
    can_rewrite = conn.execute(text(
        "SELECT has_table_privilege(current_user, 'audit_entries', 'UPDATE') "
        "OR has_table_privilege(current_user, 'audit_entries', 'DELETE')")).scalar_one()
    if not can_rewrite:
        return None
    role = conn.execute(text("SELECT current_user")).scalar_one()
    return (f"the database role {role!r} may update or delete audit entries (the owner or a superuser): in "
            f"production, serve as a login role in {APP_ROLE} (see `gateway db upgrade --runtime-url-file`)")
