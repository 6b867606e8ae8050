"""Registry tables: agencies, their public keys and their delivery endpoints."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.orm import Base


class AgencyKind(StrEnum):
    """What an agency is; policies decide on this vocabulary (policies/data/roles.json)."""

    IOM = "iom"
    UNHCR = "unhcr"
    POLICE = "police"
    POLICE_FOCAL_POINT = "police_focal_point"
    PROSECUTOR = "prosecutor"
    COURT = "court"
    IMMIGRATION = "immigration"
    COMPETENT_AUTHORITY = "competent_authority"
    SHELTER = "shelter"
    NGO = "ngo"
    HEALTHCARE = "healthcare"
    THERAPY = "therapy"
    LEGAL_AID = "legal_aid"
    CHILD_PROTECTION = "child_protection"
    GUARDIAN_ADVOCATE_SERVICE = "guardian_advocate_service"
    INDEPENDENT_ADVOCATE = "independent_advocate"
    EMBASSY = "embassy"
    COUNTRY_OF_ORIGIN_AUTHORITY = "country_of_origin_authority"
    """Any authority of a foreign state acting for that state (ministry, police liaison, consulate)."""
    MEDIA = "media"
    RAPPORTEUR = "rapporteur"
    MONITORING_BODY = "monitoring_body"
    MISSING_PERSONS = "missing_persons"
    GATEWAY_OPERATOR = "gateway_operator"
    """The operator's own administrative client. Never a recipient of anything."""


STATE_REPRESENTING_KINDS = frozenset({AgencyKind.EMBASSY, AgencyKind.COUNTRY_OF_ORIGIN_AUTHORITY})
"""Kinds that always act for a state, so their registration must say which (``represents_state``)."""


class VettingStatus(StrEnum):
    PENDING = "pending"
    VETTED = "vetted"
    SUSPENDED = "suspended"


class TrustStatus(StrEnum):
    """Lifecycle of a key or endpoint: pending -> verified -> revoked (revoked is final)."""

    PENDING = "pending"
    VERIFIED = "verified"
    REVOKED = "revoked"


class KeyKind(StrEnum):
    ENCRYPTION = "x25519"
    SIGNING = "ed25519"


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    jurisdiction: Mapped[str] = mapped_column(String(2))
    """Where the agency is registered and works (an embassy's is where it sits)."""
    represents_state: Mapped[str | None] = mapped_column(String(2))
    """ISO 3166 alpha-2 of the state this agency acts for, when it acts for a state other than
    the one it sits in: an embassy, a consulate, a foreign police liaison officer, any
    country-of-origin authority. Required for STATE_REPRESENTING_KINDS; the country-of-origin
    firewall reads it (digest 8.2 item 14, CR24)."""
    vetting_status: Mapped[str] = mapped_column(String(20), default=VettingStatus.PENDING)
    vetted_at: Mapped[datetime | None]
    mandated_reporter: Mapped[bool] = mapped_column(default=False)
    statutory_duties: Mapped[list[str]] = mapped_column(default=list)
    """Kinds of authority this agency must share with by law (e.g. ["police", "immigration"])."""
    confidentiality_policy_version: Mapped[str | None] = mapped_column(String(64))
    exception_policy: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    """Published lawful-exception bases and their predefined scenarios (L1): [{basis, scenarios}]."""
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime]

    keys: Mapped[list[AgencyKey]] = relationship(back_populates="agency", order_by="AgencyKey.created_at")
    endpoints: Mapped[list[AgencyEndpoint]] = relationship(
        back_populates="agency", order_by="AgencyEndpoint.created_at"
    )


class AgencyKey(Base):
    __tablename__ = "agency_keys"
    __table_args__ = (
        UniqueConstraint("fingerprint"),
        Index("ix_agency_keys_agency_kind_status", "agency_id", "kind", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    kind: Mapped[str] = mapped_column(String(10))
    public_key: Mapped[str] = mapped_column(String(64))
    """Raw 32-byte public key, base64url."""
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=TrustStatus.PENDING)
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(120))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))

    agency: Mapped[Agency] = relationship(back_populates="keys")


class AgencyEndpoint(Base):
    __tablename__ = "agency_endpoints"
    __table_args__ = (Index("ix_agency_endpoints_agency_status", "agency_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    url: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """Read back over the phone like a key fingerprint, so a swapped URL is noticed."""
    status: Mapped[str] = mapped_column(String(10), default=TrustStatus.PENDING)
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    verified_by: Mapped[str | None] = mapped_column(String(120))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))

    agency: Mapped[Agency] = relationship(back_populates="endpoints")


class EnrolmentSecret(Base):
    """A one-time secret the operator hands an agency out of band, to enrol its first keys itself.

    Only its SHA-256 is kept; it works once, before ``expires_at``.
    """

    __tablename__ = "enrolment_secrets"
    __table_args__ = (UniqueConstraint("secret_hash"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
