"""Per-subject keys: the keyed pseudonym audit entries carry instead of the subject id.

An audit entry is append-only and its leaf hash must verify for years, so it can never be
rewritten to forget a person. It therefore never holds the subject id (from migration 0016
on): :func:`gateway.audit.log.record` writes ``subject_id = pseudonym``, where

    pseudonym = "ps1:" + hex(HMAC-SHA256(K_subject, subject_id))[:48]

and ``K_subject`` is a random 32-byte key of that subject alone, kept in ``subject_keys``,
a table outside the log that may be deleted from. The leaf hash commits to the pseudonym.

* While the key exists, the gateway finds a person's entries (:func:`matches`) and names
  the person behind an entry (:func:`resolve`).
* Erasure deletes the key (crypto-shredding, :func:`shred`). Every entry about the person
  still verifies, with every stored proof and checkpoint, but nothing links the pseudonym to
  the person any more: the HMAC cannot be recomputed without the key, and the key was random.
  The console then shows "erased subject". The entries of one erased subject still share
  one pseudonym (they are one unnamed person to the log), which is what the console counts.
* Encrypted portal text is sealed under a key derived from the subject key and the
  gateway's at-rest key (:func:`text_key`): a database copy alone opens nothing, and
  erasure makes every copy of the text unreadable, backups included once the key is gone
  from them.

Entries written before migration 0016 hold the raw subject id in their leaf and cannot be
unlinked this way; :func:`matches` still finds them and erasure counts them in its own entry
(``legacy_linked_entries``). Subject ids are random, so they link only through the rows
erasure deletes, or through an agency that kept the id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import LargeBinary, String, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session, mapped_column
from sqlalchemy.sql import ColumnElement

from consent.orm import Base

__all__ = ["PREFIX", "SubjectKey", "is_pseudonym", "matches", "pseudonym", "resolve", "shred", "text_key"]

PREFIX = "ps1:"
_HEX = 48  # 192 bits of the HMAC


class SubjectKey(Base):
    """The key behind one subject's pseudonym. Deleting the row is the erasure of the link."""

    __tablename__ = "subject_keys"

    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]


def derive(key: bytes, subject_id: str) -> str:
    return PREFIX + hmac.new(key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()[:_HEX]


def is_pseudonym(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


def _key_row(session: Session, subject_id: str, *, at: datetime,
             random: Callable[[int], bytes] = secrets.token_bytes) -> SubjectKey:
    found = session.get(SubjectKey, subject_id)
    if found is not None:
        return found
    key = random(32)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Two transactions creating the first key of one subject at once: the loser reads the winner's.
    session.execute(insert(SubjectKey).values(subject_id=subject_id, pseudonym=derive(key, subject_id), key=key,
                                              created_at=at).on_conflict_do_nothing(index_elements=["subject_id"]))
    made = session.get(SubjectKey, subject_id, populate_existing=True)
    assert made is not None
    return made


def pseudonym(session: Session, subject_id: str, *, at: datetime,
              random: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """The subject's pseudonym, creating its key on first use (in the caller's transaction)."""
    if is_pseudonym(subject_id):
        return subject_id  # already one (an entry about an entry's subject, say)
    return _key_row(session, subject_id, at=at, random=random).pseudonym


def text_key(session: Session, subject_id: str, *, at: datetime) -> bytes:
    """The subject's own key for sealing text about them (:class:`gateway.at_rest.AtRest` mixes it with
    the ring's key), creating it on first use."""
    return bytes(_key_row(session, subject_id, at=at).key)


def existing_text_key(session: Session, subject_id: str) -> bytes | None:
    """:func:`text_key` without creating a key (None once the subject was erased)."""
    row = session.get(SubjectKey, subject_id)
    return None if row is None else bytes(row.key)


def matches(column: InstrumentedAttribute[str | None], subject_id: str) -> ColumnElement[bool]:
    """A condition on an audit entry's subject column: this subject, by pseudonym or (legacy) raw id."""
    return or_(column == subject_id,
               column == select(SubjectKey.pseudonym).where(SubjectKey.subject_id == subject_id).scalar_subquery())


def resolve(session: Session, values: Iterable[str | None]) -> dict[str, str | None]:
    """Each stored subject value → the subject id it stands for, or None for an erased subject.

    A value that is not a pseudonym (an entry from before migration 0016) stands for itself.
    """
    wanted = {v for v in values if v}
    names = [v for v in wanted if is_pseudonym(v)]
    out: dict[str, str | None] = {v: v for v in wanted if not is_pseudonym(v)}
    out.update(dict.fromkeys(names))
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        for name, subject_id in session.execute(select(SubjectKey.pseudonym, SubjectKey.subject_id)
                                                .where(SubjectKey.pseudonym.in_(chunk))):
            out[name] = subject_id
    return out


def shred(session: Session, subject_id: str) -> str | None:
    """Delete the subject's key (in the caller's transaction); the pseudonym it had, if any."""
    row = session.get(SubjectKey, subject_id)
    if row is None:
        return None
    name = row.pseudonym
    session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))
    session.expunge(row)
    return name
