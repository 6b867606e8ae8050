"""Linkage tables: epochs of the shared secret, the keys agencies enrolled, queries and their matches.

No identifier is stored: a key is a balanced, permuted Bloom filter made with a secret the
gateway never holds. Queries and matches are kept for rate limits, the DPO's probing page and
the follow-up (an information request or a referral names a ``match_id``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from consent.orm import Base


class EpochStatus(StrEnum):
    CURRENT = "current"
    RETIRED = "retired"


class QueryOutcome(StrEnum):
    ANSWERED = "answered"
    """Decided and compared; the answer may be empty."""
    REFUSED = "refused"
    """No consent or lawful basis to ask (or no key to ask with)."""
    THROTTLED = "throttled"
    """Over the rate limit: not compared at all."""


class LinkageEpoch(Base):
    """One shared secret's lifetime. Exactly one epoch is current; keys of others are refused."""

    __tablename__ = "linkage_epochs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    check_value: Mapped[str | None] = mapped_column(String(24))
    """The secret's check value, fixed by the first key enrolled in the epoch."""
    started_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class LinkageKeyRecord(Base):
    """An agency's linkage key for one of its own subjects (one per subject; a new one replaces it)."""

    __tablename__ = "linkage_keys"
    __table_args__ = (
        UniqueConstraint("agency_id", "subject_id"),
        Index("ix_linkage_keys_epoch_seq", "epoch_id", "seq"),
        {"sqlite_autoincrement": True},  # a deleted row's seq is never handed out again
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Grows with every enrolment: the in-memory index reads only rows newer than it has."""
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    epoch_id: Mapped[str] = mapped_column(ForeignKey("linkage_epochs.id"))
    clk: Mapped[bytes] = mapped_column(LargeBinary)
    enrolled_at: Mapped[datetime]


class LinkageQuery(Base):
    """One question asked, answered or not: the rate limit and the DPO's probing page read these."""

    __tablename__ = "linkage_queries"
    __table_args__ = (Index("ix_linkage_queries_agency_at", "agency_id", "at"), Index("ix_linkage_queries_at", "at"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    subject_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(64))
    matches: Mapped[int] = mapped_column(Integer, default=0)
    key_age_s: Mapped[int | None] = mapped_column(Integer)
    """Seconds between the asking key's enrolment and the question (fresh keys suggest probing)."""


class LinkageMatch(Base):
    """A possible match reported to an asking agency: what its follow-up request names."""

    __tablename__ = "linkage_matches"
    __table_args__ = (Index("ix_linkage_matches_asking", "asking_agency_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    query_id: Mapped[str] = mapped_column(ForeignKey("linkage_queries.id"))
    asking_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    asking_subject_id: Mapped[str] = mapped_column(String(64))
    holding_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    holding_subject_id: Mapped[str] = mapped_column(String(64))
    """Never shown to the asking agency; the holder resolves the match to its own subject."""
    strength: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]
