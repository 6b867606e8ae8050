"""The in-memory comparison of one linkage key with every stored key (anonlink's Dice kernel).

Each process keeps the current epoch's keys packed in one byte array with their popcounts, and
reads only the rows enrolled since it last looked (``seq`` grows with every enrolment and is
never reused; rows whose transactions commit out of order are caught by re-reading the last
``LOOKBACK`` sequence numbers and skipping those already held), so a
query costs one pass of anonlink's native popcount kernel over the packed keys, not a read of
the table. Rows replaced or deleted since are still in the array: every candidate is checked
against the database before it is used (:func:`gateway.linkage.service.query`), so a stale
entry can never be reported, only cost a comparison. A new epoch starts a new array.

anonlink's public ``dice_coefficient_accelerated`` packs every stored filter again on every
call (about 0.4 s per query at 100 k keys here); this module calls the same C++ kernel,
``anonlink.similarities._dice.dice_many_to_many``, on the array it keeps packed (about 10 ms
at 100 k). ``tests/linkage/test_index.py`` checks it against anonlink's pure-Python Dice.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from array import array
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .models import LinkageKeyRecord

with warnings.catch_warnings():
    # anonlink 0.15 declares its types with mypy_extensions.TypedDict, deprecated since 1.0.
    warnings.filterwarnings("ignore", message="mypy_extensions.TypedDict is deprecated", category=DeprecationWarning)
    from anonlink.similarities import _dice

LOOKBACK: Final = 256
"""Sequence numbers re-read on each refresh: more than the enrolments that can be in flight at once."""
KEY_BYTES: Final = 256
"""2048 bits: the SDK's balanced filter (``connectors.linkage.SCHEMA.key_bytes``)."""


@dataclass(frozen=True)
class Candidate:
    """A stored key at least as similar as the threshold: which row, whose, how similar."""

    seq: int
    agency_id: str
    subject_id: str
    strength: float


class KeyIndex:
    """The packed keys of one epoch for one process; thread-safe."""

    def __init__(self, epoch_id: str) -> None:
        self.epoch_id = epoch_id
        self._lock = threading.Lock()
        self._packed = array("b")
        self._popcounts = array("I")
        self._rows: list[tuple[int, str, str]] = []
        self._held: set[int] = set()
        self._last_seq = 0
        self.compared = 0
        """Keys compared so far (tests count work instead of timing it)."""

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, seq: int, agency_id: str, subject_id: str, clk: bytes) -> None:
        if len(clk) != KEY_BYTES:
            raise ValueError("a linkage key is 256 bytes")
        with self._lock:
            self._append(seq, agency_id, subject_id, clk)

    def _append(self, seq: int, agency_id: str, subject_id: str, clk: bytes) -> None:
        if seq in self._held:
            return
        self._held.add(seq)
        self._packed.frombytes(clk)
        self._popcounts.append(int.from_bytes(clk, "big").bit_count())
        self._rows.append((seq, agency_id, subject_id))
        self._last_seq = max(self._last_seq, seq)

    def refresh(self, session: Session) -> None:
        """Read the rows of this epoch enrolled since the last refresh."""
        with self._lock:
            rows = session.execute(
                select(LinkageKeyRecord.seq, LinkageKeyRecord.agency_id, LinkageKeyRecord.subject_id,
                       LinkageKeyRecord.clk)
                .where(LinkageKeyRecord.epoch_id == self.epoch_id, LinkageKeyRecord.seq > self._last_seq - LOOKBACK)
                .order_by(LinkageKeyRecord.seq)
            ).all()
            for seq, agency_id, subject_id, clk in rows:
                if len(clk) == KEY_BYTES:
                    self._append(seq, agency_id, subject_id, bytes(clk))

    def search(self, clk: bytes, threshold: float, limit: int = 200) -> list[Candidate]:
        """The stored keys with Dice coefficient >= ``threshold``, most similar first (at most ``limit``)."""
        if len(clk) != KEY_BYTES:
            raise ValueError("a linkage key is 256 bytes")
        query = array("b")
        query.frombytes(clk)
        with self._lock:
            count = len(self._rows)
            if count == 0:
                return []
            sims, first, second = array("d"), array("I"), array("I")
            _dice.dice_many_to_many(query, self._packed, 1, count, self._popcounts, KEY_BYTES, min(limit, count),
                                    threshold, sims, first, second)
            self.compared += count
            rows = [self._rows[i] for i in second]
        found = [Candidate(seq=r[0], agency_id=r[1], subject_id=r[2], strength=float(s)) for r, s in zip(rows, sims,
                                                                                                     strict=True)]
        return sorted(found, key=lambda c: (-c.strength, c.seq))


_INDEXES: weakref.WeakKeyDictionary[Engine, KeyIndex] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def index_for(engine: Engine, epoch_id: str) -> KeyIndex:
    """This process's index of ``epoch_id`` for the database behind ``engine`` (a new epoch: a new index)."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(engine)
        if index is None or index.epoch_id != epoch_id:
            index = KeyIndex(epoch_id)
            _INDEXES[engine] = index
        return index


def forget(engine: Engine) -> None:
    """Drop this process's index (after keys were deleted wholesale, e.g. an epoch retired)."""
    with _INDEXES_LOCK:
        _INDEXES.pop(engine, None)
