"""Leaf hashes of audit entries from canonical text that SQLite writes itself (stdlib only).

:func:`gateway.audit.log.compute_leaf_hash` is the definition of a leaf: ``SHA-256(0x00 ||
canonical_json(entry_document(entry)))``. On SQLite a full verification does not fetch the
19 columns and format them in Python: :data:`LEAF_TEXT`, an SQL expression, has SQLite's
JSON functions write each entry's canonical document, and Python only hashes it. That
costs about a third less per entry, and it runs in SQLite's C code, so worker *processes*
share the work well (threads did not: SQLite's global allocator serialises them).

It is optimistic and sound, like :func:`gateway.audit.leaves.fast_leaf_hash`:

* The text is a lossless function of the stored values, so a text whose hash equals a
  leaf hash that ``record()`` wrote *is* that entry's canonical document. ``json_object``
  writes every text column as a JSON string (``json_quote``'s escapes are RFC 8785's:
  tested) and NULL as ``null``; a JSON column is taken only when it is exactly one JSON
  value (strict RFC 8259: see :data:`JSON_REFUSES_INVALID`) and holds no NUL (where SQLite's
  parser stops reading), so no column can spill into the next field; the timestamp is
  rewritten only in its one stored shape, exactly as :func:`gateway.audit.leaves._iso`
  rewrites it. Anything else makes the whole text NULL (or, before 3.42, the query fail).
* A text that is not canonical (JSON stored with spaces or unsorted keys, a float, escaped
  non-ASCII text) is NULL or hashes differently: such an entry comes back *unknown*, and
  the verifier checks it with :func:`gateway.audit.leaves.leaf_matches`. A BLOB where text
  belongs makes SQLite refuse the query (its JSON functions hold no BLOBs): those entries
  come back unknown too.

Only the standard library (and the stdlib-only :mod:`crypto.merkle`, the one definition of the
leaf and node hashes, loaded from its file) is imported, so a worker process starts in a few tens of
milliseconds: ``python -I -S sqlite_leaves.py DATABASE`` opens its own read-only snapshot,
writes its :func:`bounds`, then answers each ``LO HI BATCH TOP`` line on stdin with a
:func:`piece`: the leaf hashes of seq ``[LO, HI)`` and, when every entry there came out
as stored, levels 1..TOP of the tree over them, compared with the stored nodes
(:func:`subtrees`). Messages are length-prefixed pickles (:func:`send`, :func:`receive`).
"""

from __future__ import annotations

import importlib.util
import pickle
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

try:
    from crypto.merkle import leaf_hash, parent_level
except ImportError:  # a worker process (python -I -S): no package is on its path, so the file itself is loaded
    # crypto/merkle.py imports only the standard library (tests/kernel/test_format_homes.py checks it).
    _file = Path(__file__).resolve().parents[2] / "crypto" / "merkle.py"
    _spec = importlib.util.spec_from_file_location("merkle", _file)
    assert _spec is not None and _spec.loader is not None
    _merkle = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_merkle)
    leaf_hash, parent_level = _merkle.leaf_hash, _merkle.parent_level

__all__ = ["LEAF_TEXT", "Chunk", "Piece", "bounds", "chunks", "open_snapshot", "piece", "receive", "send", "subtrees"]

_AT_SHAPE = "____-__-__ __:__:__.______"
"""How SQLAlchemy stores a DateTime on SQLite, ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC here), as a LIKE pattern.

The shape is all the rewrite below needs to equal ``_iso``'s (the digits need no check: a
text with anything else there equals no timestamp ``record()`` wrote).
"""

_JSON_COLUMNS = ("basis", "classes_released", "classes_requested", "details")

JSON_REFUSES_INVALID = sqlite3.sqlite_version_info < (3, 42, 0)
"""Before SQLite 3.42, ``json()`` refuses exactly what ``json_valid()`` refuses (one strict
parser, tested): a column that is not one JSON value then makes the query fail, and the
verifier reads that stretch entry by entry, and those entries the Python way; a separate
``json_valid`` (10 % of the query) is only needed from 3.42, whose ``json()`` reads JSON5."""

_JSON_COLUMN_OK = "instr({c}, char(0)) = 0" if JSON_REFUSES_INVALID else "json_valid({c}) AND instr({c}, char(0)) = 0"

LEAF_TEXT = (
    "CASE WHEN at LIKE '" + _AT_SHAPE + "' AND "
    + " AND ".join(_JSON_COLUMN_OK.format(c=c) for c in _JSON_COLUMNS)
    + " THEN CAST(char(0) || json_object("
    # The keys in RFC 8785 order (all ASCII, so code-point order).
    "'action', action, "
    "'actor', json_object('agency_id', actor_agency_id, 'role', actor_role, 'user', actor_user), "
    # datetime.isoformat() of the stored UTC time: microseconds only when not zero.
    "'at', substr(at, 1, 10) || 'T' || CASE WHEN substr(at, 21) = '000000' THEN substr(at, 12, 8) "
    "ELSE substr(at, 12) END || '+00:00', "
    "'basis', json(basis), 'classes_released', json(classes_released), "
    "'classes_requested', json(classes_requested), 'decision', decision, 'details', json(details), "
    "'entry_id', entry_id, 'policy_version', policy_version, 'purpose', purpose, 'reason', reason, "
    "'recipient_agency_id', recipient_agency_id, 'request_id', request_id, 'seq', seq, "
    "'subject_id', subject_id) AS BLOB) END"
)
"""An SQLite expression: ``0x00 ||`` the entry's canonical document (the leaf hash input), or NULL."""

# Constant text throughout; values are bound as parameters.
_OPEN = "FROM audit_entries WHERE seq >= ? AND seq > ? ORDER BY seq LIMIT ?"
_BOUNDED = "FROM audit_entries WHERE seq >= ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?"
_ROWS = f"SELECT seq, {LEAF_TEXT}, leaf_hash {_BOUNDED}"
_OPEN_ROWS = f"SELECT seq, {LEAF_TEXT}, leaf_hash {_OPEN}"
_SEQS = f"SELECT seq {_BOUNDED}"
_OPEN_SEQS = f"SELECT seq {_OPEN}"
# A whole range in one step (SQLite works without returning to Python for each row). The
# texts hold no NUL but the one each starts with (json_object escapes it, json_valid refuses
# it raw), so they split on it; the seqs, listed in the same pass, prove the rows are
# lo..hi-1 in that order.
_RANGE = (
    "SELECT count(*), group_concat(seq, ','), "  # noqa: S608
    "CAST(group_concat(t, '') AS BLOB), group_concat(coalesce(leaf_hash, '-'), ','), "
    "sum(typeof(leaf_hash) = 'text' AND length(leaf_hash) = 64 AND leaf_hash NOT GLOB '*[^0-9a-f]*') "
    f"FROM (SELECT seq, {LEAF_TEXT} AS t, leaf_hash FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq)"
)
_RANGE_ROWS = 4096  # about 2.5 MB of text a step: larger steps cost more in fresh memory than they save
_LARGEST = 2**63 - 1  # compared with it, a text seq (a tampered row) is left out: SQLite sorts text last

Chunk = tuple[Sequence[Any], bytes, list[int]]
"""``(seqs in order, their leaf hashes concatenated (32 bytes each), positions not known)``.

A position is *unknown* when SQLite's text is NULL, a BLOB stopped the query, or the text
does not hash to the stored leaf hash: the caller checks those entries the reference way
(its 32 bytes are zero).
"""

_ZERO = bytes(32)


def bounds(connection: sqlite3.Connection) -> tuple[int, int]:
    """``(min(0, lowest seq), highest seq + 1)``: two index lookups (min and max together would scan)."""
    (low,) = connection.execute("SELECT min(seq) FROM audit_entries WHERE seq <= ?", (_LARGEST,)).fetchone()
    (high,) = connection.execute("SELECT max(seq) FROM audit_entries WHERE seq <= ?", (_LARGEST,)).fetchone()
    return min(0, int(low or 0)), 0 if high is None else int(high) + 1


def _rows(connection: sqlite3.Connection, lo: int, hi: int | None, batch: int) -> Iterator[Chunk]:
    """Entry by entry, from ``lo`` (below ``hi`` if given)."""
    last: Any = lo - 1  # continue after the last seq read: "seq > last" also steps over a REAL or TEXT seq
    while True:
        args = (lo, last, batch) if hi is None else (lo, last, hi, batch)
        try:
            rows = connection.execute(_OPEN_ROWS if hi is None else _ROWS, args).fetchall()
        except sqlite3.OperationalError:  # a BLOB where text belongs: this batch is all unknown
            rows = [(seq, None, None) for (seq,) in connection.execute(
                _OPEN_SEQS if hi is None else _SEQS, args).fetchall()]
        if not rows:
            return
        seqs = [row[0] for row in rows]
        digests = bytearray()
        unknown: list[int] = []
        for i, (_, text, stored) in enumerate(rows):
            if text is not None:
                leaf = leaf_hash(text[1:])  # the text is 0x00 || the document (LEAF_TEXT)
                if leaf.hex() == stored:
                    digests += leaf
                    continue
            unknown.append(i)
            digests += _ZERO
        yield seqs, bytes(digests), unknown
        last = seqs[-1]


def chunks(connection: sqlite3.Connection, lo: int, hi: int | None, batch: int) -> Iterator[Chunk]:
    """The leaf hashes of seq ``[lo, hi)`` (``hi=None``: everything from ``lo``), in seq order.

    A range of seqs (at most ``batch``, 4096) is first read in one step; a range that is not
    exactly its seqs, each with a text that hashes to its stored leaf hash, is read again
    entry by entry (``batch`` at a time).
    """
    while hi is None or lo < hi:
        if hi is None:
            yield from _rows(connection, lo, None, batch)
            return
        end = min(hi, lo + min(batch, _RANGE_ROWS))
        try:
            count, seqs, texts, stored, well_formed = connection.execute(_RANGE, (lo, end)).fetchone()
        except sqlite3.OperationalError:  # a BLOB where text belongs
            count = None
        # Every stored leaf hash must be 64 lower-case hex digits (a NULL, or a value holding a comma,
        # would otherwise let the joined comparison below pass for rows that do not match one by one).
        if (count == end - lo and well_formed == count and texts
                and seqs == ",".join(map(str, range(lo, end)))):
            documents = texts.split(b"\x00")
            if len(documents) == count + 1 and not documents[0]:
                leaves = [leaf_hash(document) for document in documents[1:]]
                # Hex digests hold no comma and every stored one is 64 hex digits: equal joins mean
                # equal hashes, one by one.
                if ",".join([leaf.hex() for leaf in leaves]) == stored:
                    yield range(lo, end), b"".join(leaves), []
                    lo = end
                    continue
        yield from _rows(connection, lo, end, batch)
        lo = end


def open_snapshot(database: str) -> sqlite3.Connection:
    """A read-only connection to an existing file, in a deferred (read) transaction: one WAL
    snapshot from its first read, no write lock."""
    connection = sqlite3.connect(f"{Path(database).absolute().as_uri()}?mode=ro", uri=True, timeout=30,
                                 isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN DEFERRED")
    return connection


def subtrees(connection: sqlite3.Connection, lo: int, leaves: bytes, top: int) -> list[tuple[bytes, bool]]:
    """Levels 1..``top`` of the Merkle tree over ``leaves`` (the leaves from seq ``lo``, a multiple of 2**top).

    Each level comes with whether the stored nodes of that stretch are exactly these: the
    caller then need not read them (odd last nodes are not carried, as in the verifier).
    """
    level = [leaves[i : i + 32] for i in range(0, len(leaves), 32)]
    out: list[tuple[bytes, bool]] = []
    for height in range(1, top + 1):
        level = parent_level(level)
        first = lo >> height
        stored = [value for (value,) in connection.execute(
            "SELECT hash FROM audit_tree_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (height, first, first + len(level)))]
        out.append((b"".join(level), stored == level))
    return out


Piece = tuple[int, list[Chunk], list[tuple[bytes, bool]] | None]
"""``(lo, chunks of seq [lo, hi), levels 1..top over them or None)``: see :func:`piece`."""


def piece(connection: sqlite3.Connection, lo: int, hi: int, batch: int, top: int) -> Piece:
    """The leaf hashes of seq ``[lo, hi)`` and, when every entry there came out exactly as
    stored (so the leaves are seqs lo..hi-1 in order), levels 1..``top`` of the tree over them."""
    found = list(chunks(connection, lo, hi, batch))
    exact = all(isinstance(c[0], range) and not c[2] for c in found) and sum(len(c[0]) for c in found) == hi - lo
    levels = subtrees(connection, lo, b"".join(c[1] for c in found), top) if exact and top else None
    return lo, found, levels


def send(stream: Any, value: object) -> None:
    """One message: its length (8 bytes, big-endian), then the pickle."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def receive(stream: Any) -> Any:
    """One message from an unbuffered stream (EOFError when the sender is gone)."""
    size = int.from_bytes(_read_exactly(stream, 8), "big")
    return pickle.loads(_read_exactly(stream, size))  # noqa: S301 - from our own worker process


def _read_exactly(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    while size:
        part = stream.read(size)
        if not part:
            raise EOFError("worker gone")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _serve(database: str) -> None:
    """Worker process: first the bounds of its snapshot, then a :data:`Piece` for each
    ``lo hi batch top`` line read, until stdin closes."""
    connection = open_snapshot(database)
    try:
        send(sys.stdout.buffer, bounds(connection))
        for line in sys.stdin:
            lo, hi, batch, top = (int(value) for value in line.split())
            send(sys.stdout.buffer, piece(connection, lo, hi, batch, top))
    finally:
        connection.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
