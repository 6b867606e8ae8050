"""The database refuses to rewrite the audit log and the key directory.

* **PostgreSQL**: the migrations run as the tables' owner; the gateway runs as a login role
  that is a member of ``gateway_app``, which may SELECT and INSERT the append-only tables
  but not UPDATE, DELETE or TRUNCATE them (on ``agency_keys`` it may update only the status
  columns; the key material itself is immutable). Create the login role once::

      CREATE ROLE gateway LOGIN PASSWORD '...' IN ROLE gateway_app;

  and give the gateway that role's URL (``GATEWAY_DATABASE_URL``); migrations keep the
  owner's URL (``gateway db upgrade`` with ``GATEWAY_DATABASE_URL`` set to the owner).
* **SQLite**: triggers abort any UPDATE or DELETE of those tables (there is no TRUNCATE).
  Whoever holds the database file can drop a trigger; the witnesses catch that
  (:mod:`gateway.audit.notes`).

The statements live here so the migration and the tests use the same ones.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

APPEND_ONLY_TABLES = ("audit_entries", "audit_tree_nodes", "audit_checkpoints", "audit_cosignatures")
KEY_TABLE = "agency_keys"
KEY_IMMUTABLE_COLUMNS = ("id", "agency_id", "kind", "public_key", "fingerprint", "created_at")
KEY_STATUS_COLUMNS = ("status", "verified_at", "verified_by", "revoked_at", "revoked_reason")
APP_ROLE = "gateway_app"
REDACTION_TABLE = "audit_redactions"
"""Append-only too, from migration 0017 (gateway.audit.redaction): guarded only where it exists."""


def _append_only_statement(table: str, verb: str) -> tuple[str, str]:
    name = f"{table}_refuse_{verb.lower()}"
    return name, (f"CREATE TRIGGER {name} BEFORE {verb} ON {table} BEGIN "
                  f"SELECT RAISE(ABORT, '{table} is append-only'); END")


def _sqlite_table_exists(conn: Connection, table: str) -> bool:
    return conn.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :t"),
                        {"t": table}).first() is not None


def install_redaction_guard(conn: Connection) -> None:
    """Make ``audit_redactions`` append-only like the audit tables (migration 0017)."""
    if conn.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            conn.execute(text(_append_only_statement(REDACTION_TABLE, verb)[1]))
    elif conn.dialect.name == "postgresql":
        conn.execute(text(f"DO $$ BEGIN IF to_regrole('{APP_ROLE}') IS NOT NULL THEN "
                          f"REVOKE UPDATE, DELETE, TRUNCATE ON {REDACTION_TABLE} FROM {APP_ROLE}; END IF; END $$"))


def _sqlite_triggers() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for table in APPEND_ONLY_TABLES:
        for verb in ("UPDATE", "DELETE"):
            name = f"{table}_refuse_{verb.lower()}"
            found.append((name, f"CREATE TRIGGER {name} BEFORE {verb} ON {table} BEGIN "
                                f"SELECT RAISE(ABORT, '{table} is append-only'); END"))
    name = f"{KEY_TABLE}_refuse_delete"
    found.append((name, f"CREATE TRIGGER {name} BEFORE DELETE ON {KEY_TABLE} BEGIN "
                        f"SELECT RAISE(ABORT, '{KEY_TABLE} is append-only'); END"))
    name = f"{KEY_TABLE}_refuse_rebind"
    found.append((name, f"CREATE TRIGGER {name} BEFORE UPDATE OF {', '.join(KEY_IMMUTABLE_COLUMNS)} "
                        f"ON {KEY_TABLE} BEGIN SELECT RAISE(ABORT, 'key material is immutable'); END"))
    return found


def install_sqlite_guards(conn: Connection) -> None:
    for _name, statement in _sqlite_triggers():
        conn.execute(text(statement))
    if _sqlite_table_exists(conn, REDACTION_TABLE):
        for verb in ("UPDATE", "DELETE"):
            conn.execute(text(_append_only_statement(REDACTION_TABLE, verb)[1]))


def drop_sqlite_guards(conn: Connection) -> None:
    """What anyone holding the SQLite file can do (tests that play the attacker use it)."""
    for name, _statement in _sqlite_triggers():
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    for verb in ("UPDATE", "DELETE"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS {_append_only_statement(REDACTION_TABLE, verb)[0]}"))


def install_postgres_grants(conn: Connection) -> None:
    """Create ``gateway_app`` (NOLOGIN) if missing and give it exactly the rights the gateway needs."""
    conn.execute(text(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
        f"CREATE ROLE {APP_ROLE} NOLOGIN; END IF; END $$"))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
    conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}"))
    # Tables later migrations create (as the same owner) are granted the same way.
    conn.execute(text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
                      f"ON TABLES TO {APP_ROLE}"))
    conn.execute(text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"))
    tables = ", ".join((*APPEND_ONLY_TABLES, KEY_TABLE))
    conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {APP_ROLE}"))
    conn.execute(text(f"DO $$ BEGIN IF to_regclass('{REDACTION_TABLE}') IS NOT NULL THEN "
                      f"REVOKE UPDATE, DELETE, TRUNCATE ON {REDACTION_TABLE} FROM {APP_ROLE}; END IF; END $$"))
    conn.execute(text(f"GRANT UPDATE ({', '.join(KEY_STATUS_COLUMNS)}) ON {KEY_TABLE} TO {APP_ROLE}"))
    conn.execute(text("REVOKE TRUNCATE ON ALL TABLES IN SCHEMA public FROM PUBLIC"))


def install(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        install_sqlite_guards(conn)
    elif conn.dialect.name == "postgresql":
        install_postgres_grants(conn)
