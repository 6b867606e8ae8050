"""Recomputing leaf hashes from the stored columns, fast enough to verify millions of entries.

:func:`gateway.audit.log.compute_leaf_hash` is the definition: ``SHA-256(0x00 ||
canonical_json(entry_document(entry)))`` with RFC 8785 canonical JSON. A general RFC 8785
encoder costs ~50 µs per entry; :func:`fast_leaf_hash` writes the same bytes in a few µs by
filling the entry document's fixed, sorted key layout with C-escaped strings, and using
the free-form JSON columns' stored text (parsed to be sure it is one JSON value, memoised)
instead of re-encoding it. This is the PostgreSQL path, and the check of any entry the
SQLite path (:mod:`.sqlite_leaves`, where SQLite writes the text) could not vouch for.

The fast path is optimistic, never trusted on a miss: :func:`leaf_matches` re-checks any
row whose fast hash differs from the stored one with the general encoder
(:func:`slow_leaf_hash`), so unusual values (floats, keys stored unsorted by an older
writer, non-ASCII text) cost time, never a false alarm. And a *match* is sound: the fast
text is a lossless function of the stored values, so equal hashes mean equal documents.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Text, cast, select, type_coerce
from sqlalchemy.sql import Select

from crypto.audit_leaf import entry_leaf_hash
from crypto.canonical import canonical_json, canonical_string
from crypto.merkle import leaf_hash

from .log import document_of_values
from .models import AuditEntry

__all__ = [
    "ENTRY_COLUMNS",
    "EntryRow",
    "document_of_row",
    "fast_leaf_hash",
    "leaf_matches",
    "select_entry_rows",
    "slow_leaf_hash",
]

EntryRow = tuple[Any, ...]
"""The columns of :data:`ENTRY_COLUMNS`, in order; JSON columns as their stored text."""

ENTRY_COLUMNS = (
    AuditEntry.seq, AuditEntry.entry_id,
    # The stored text on SQLite (parsing it through the column type costs more than hashing);
    # PostgreSQL's driver hands back a datetime either way.
    type_coerce(AuditEntry.at, String),
    AuditEntry.request_id, AuditEntry.actor_agency_id,
    AuditEntry.actor_role, AuditEntry.actor_user, AuditEntry.action, AuditEntry.subject_id, AuditEntry.purpose,
    AuditEntry.recipient_agency_id, cast(AuditEntry.classes_requested, Text), cast(AuditEntry.classes_released, Text),
    AuditEntry.policy_version, cast(AuditEntry.basis, Text), AuditEntry.decision, AuditEntry.reason,
    cast(AuditEntry.details, Text), AuditEntry.leaf_hash,
)

_MAX_SAFE = 2**53 - 1
_enc = canonical_string
# The canonical document with its keys in RFC 8785 order (all ASCII, so code-point order).
_TEMPLATE = (
    '{"action":%s,"actor":{"agency_id":%s,"role":%s,"user":%s},"at":"%s","basis":%s,"classes_released":%s,'
    '"classes_requested":%s,"decision":%s,"details":%s,"entry_id":%s,"policy_version":%s,"purpose":%s,'
    '"reason":%s,"recipient_agency_id":%s,"request_id":%s,"seq":%d,"subject_id":%s}'
)
_CACHE_LIMIT = 100_000
_canonical_cache: dict[str, str] = {}
# A \uXXXX escape of a code point at or above U+D800 (stored JSON is ASCII with escapes).
_HIGH_ESCAPE = re.compile(r"\\u[d-fD-F]")


def select_entry_rows() -> Select[*tuple[Any, ...]]:
    return select(*ENTRY_COLUMNS)


class _Slow(Exception):
    pass


def _safe_int(text: str) -> int:
    value = int(text)
    if -_MAX_SAFE <= value <= _MAX_SAFE:
        return value
    raise _Slow


def _no_float(text: str) -> float:
    raise _Slow


_scan = json.scanner.c_make_scanner(  # type: ignore[attr-defined]  # NOTE: the C scanner json.loads uses
    json.JSONDecoder(parse_int=_safe_int, parse_float=_no_float)
)


def _canonical_text(stored: str) -> str:
    """The RFC 8785 text of the JSON value stored as ``stored``, optimistically (memoised).

    The stored text is parsed first (by the C scanner json.loads uses), so whatever is
    returned is a lossless function of the value the entry holds: a stored text that is not
    one JSON value cannot shift text into a neighbouring field of the document.

    * Compact text (how SQLite stores it, see ``CompactJSON``) is then used as it is.
    * Other text is written again by :func:`crypto.canonical.canonical_json`, from the parsed
      value when it holds no float, no integer beyond I-JSON and no object key at or above
      U+D800, else from a fresh general parse.

    Text that is not canonical (keys stored unsorted by an older writer, say) makes the leaf
    hash miss, and :func:`leaf_matches` re-checks that entry the slow way.
    """
    hit = _canonical_cache.get(stored)
    if hit is not None:
        return hit
    try:
        if _HIGH_ESCAPE.search(stored):
            raise _Slow
        value, end = _scan(stored, 0)
        if end != len(stored):
            raise _Slow
        text = stored if ", " not in stored and ": " not in stored else canonical_json(value).decode()
    except (_Slow, StopIteration, ValueError, RecursionError):
        text = canonical_json(json.loads(stored)).decode()
    if len(_canonical_cache) >= _CACHE_LIMIT:
        _canonical_cache.clear()
    _canonical_cache[stored] = text
    return text


def _iso(at: Any) -> str:
    """What ``datetime.isoformat()`` gives for the stored UTC timestamp."""
    if type(at) is str and len(at) == 26 and at[10] == " " and at[19] == ".":
        # SQLite's stored form, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: rewrite it directly.
        return at[:10] + "T" + at[11:19] + ("+00:00" if at[20:] == "000000" else at[19:] + "+00:00")
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if not isinstance(moment, datetime):
        raise TypeError("not a timestamp")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat()


def fast_leaf_hash(row: EntryRow) -> bytes:
    """The leaf hash of the entry in ``row`` (see the module docstring), 32 bytes."""
    (seq, entry_id, at, request_id, agency, role, user, action, subject, purpose, recipient, requested, released,
     policy_version, basis, decision, reason, details, _) = row
    enc, memo, canonical = _enc, _canonical_cache.get, _canonical_text
    try:
        if type(seq) is not int:
            raise _Slow
        # canonical_string raises TypeError for anything but a str, which sends the row to
        # the general encoder; None is the only non-str a column may legitimately hold.
        text = _TEMPLATE % (
            enc(action), "null" if agency is None else enc(agency), "null" if role is None else enc(role),
            "null" if user is None else enc(user), _iso(at), memo(basis) or canonical(basis),
            memo(released) or canonical(released), memo(requested) or canonical(requested), enc(decision),
            memo(details) or canonical(details), enc(entry_id),
            "null" if policy_version is None else enc(policy_version), "null" if purpose is None else enc(purpose),
            "null" if reason is None else enc(reason), "null" if recipient is None else enc(recipient),
            "null" if request_id is None else enc(request_id), seq, "null" if subject is None else enc(subject),
        )
        return leaf_hash(text.encode())
    except (_Slow, UnicodeEncodeError, TypeError, ValueError, AttributeError, RecursionError):
        return slow_leaf_hash(row)


def leaf_matches(row: EntryRow) -> tuple[bytes, bool]:
    """``(leaf hash, whether it equals the stored one)``; a fast-path miss is re-checked the slow way.

    So the fast path can only ever save time: a stored hash that matches the fast text
    matches the canonical document (SHA-256 is collision resistant, and the fast text is a
    lossless function of the stored values), and a mismatch is only reported when the
    reference computation agrees.
    """
    leaf = fast_leaf_hash(row)
    stored = row[18]
    if leaf.hex() == stored:
        return leaf, True
    reference = slow_leaf_hash(row)
    return reference, reference.hex() == stored


def document_of_row(row: EntryRow, *, seq: int | None = None) -> dict[str, Any]:
    """The entry document of ``row`` (:func:`gateway.audit.log.document_of_values`)."""
    loads = json.loads
    return document_of_values((
        row[0] if seq is None else seq, row[1], _iso(row[2]), *row[3:11], loads(row[11]), loads(row[12]), row[13],
        loads(row[14]), row[15], row[16], loads(row[17]),
    ))


def slow_leaf_hash(row: EntryRow, *, seq: int | None = None) -> bytes:
    """The reference computation (:func:`crypto.audit_leaf.entry_leaf_hash` with the general RFC 8785 encoder).

    A row that cannot be canonicalised at all (it was tampered with) gets a hash that
    matches no stored one.
    """
    try:
        return entry_leaf_hash(document_of_row(row, seq=seq))
    except (TypeError, ValueError, RecursionError):
        return hashlib.sha256(b"\xffuncanonicalisable").digest()
