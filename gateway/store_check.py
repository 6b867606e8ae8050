"""The check every command that reads or changes the registry makes first: that the database it
names exists and carries this gateway's schema.

Without it, SQLite would create an empty ``gateway.db`` wherever ``--data-dir`` pointed (a
typo leaves a stray database behind) and the first query would fail with a traceback.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import migrate
from .settings import Settings


class StoreUnavailable(Exception):
    """The database is absent, unreachable or not migrated; the message is one line for a person."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return Path(parsed.database) if parsed.database and parsed.database != ":memory:" else None


def require_store(settings: Settings) -> None:
    """Refuse (one line) unless the database exists and is at this gateway's schema revision."""
    url = settings.resolved_database_url
    path = _sqlite_path(url)
    if path is not None and not path.is_file():
        where = settings.data_dir
        hint = "the directory does not exist" if not where.is_dir() else "no gateway.db in it"
        raise StoreUnavailable(
            f"no gateway database in {where} ({hint}): pass --data-dir (or set GATEWAY_DATA_DIR) to a "
            f"gateway's data directory, or create one with `gateway init --data-dir {where}`")
    try:
        current = migrate.current_revision(url)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first = str(cause).strip().splitlines()
        raise StoreUnavailable(f"cannot open the database: {first[0] if first else type(exc).__name__}") from exc
    head = migrate.head_revision()
    if current is None:
        raise StoreUnavailable("the database has no gateway schema: run `gateway db upgrade` (or `gateway init`)")
    if current != head:
        raise StoreUnavailable(f"the database is at schema revision {current}, this gateway needs {head}: "
                               "run `gateway db upgrade`")
