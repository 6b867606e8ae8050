"""Wire shapes of the registry API (pydantic at the edge; unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import object_session

from .binding_chain import Chain, chain, unbound_reason
from .models import Agency, AgencyEndpoint, AgencyKey, AgencyKind, KeyKind


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExceptionPolicyEntry(Strict):
    basis: str = Field(pattern=r"^L\d{1,2}[a-z]?$")
    scenarios: list[str] = Field(min_length=1, max_length=50)


class AgencyCreate(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=2, max_length=200)
    kind: AgencyKind
    jurisdiction: str = Field(pattern=r"^[A-Za-z]{2}$")
    represents_state: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    """The state the agency acts for (embassy, consulate, foreign police liaison); required for
    ``embassy`` and ``country_of_origin_authority``."""
    mandated_reporter: bool = False
    statutory_duties: list[AgencyKind] = Field(default_factory=list, max_length=10)
    confidentiality_policy_version: str | None = Field(default=None, max_length=64)
    vetted: bool = False
    exception_policy: list[ExceptionPolicyEntry] = Field(default_factory=list, max_length=20)


class KeyCreate(Strict):
    kind: KeyKind
    public_key: str = Field(min_length=43, max_length=44, pattern=r"^[A-Za-z0-9_-]+$")


class FingerprintReadBack(Strict):
    fingerprint: str = Field(min_length=8, max_length=80)


class Revocation(Strict):
    reason: str = Field(min_length=3, max_length=200)


class EndpointCreate(Strict):
    url: str = Field(min_length=10, max_length=2000)


class KeyOut(BaseModel):
    id: str
    agency_id: str
    kind: str
    public_key: str
    fingerprint: str
    status: str
    created_at: datetime
    verified_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of_all(cls, agency: Agency) -> list[KeyOut]:
        return _keys_out(agency)

    @classmethod
    def of(cls, key: AgencyKey, bound: Chain | None = None) -> KeyOut:
        """``status`` is ``verified`` only for a key the gateway uses: verified *and* bound by the
        agency's own signature; a verified key without that binding is shown as ``unbound``."""
        status = str(key.status)
        if status == "verified":
            session = object_session(key)
            if bound is None and session is not None:
                bound = chain(session, key.agency_id)
            why = unbound_reason(key, bound) if bound is not None else "key_not_bound_by_agency"
            if why is not None:
                status = "revoked" if why == "key_revoked" else "unbound"
        return cls(
            id=key.id, agency_id=key.agency_id, kind=key.kind, public_key=key.public_key,
            fingerprint=key.fingerprint, status=status, created_at=key.created_at,
            verified_at=key.verified_at, revoked_at=key.revoked_at,
        )


class EndpointOut(BaseModel):
    id: str
    agency_id: str
    url: str
    fingerprint: str
    status: str
    created_at: datetime
    verified_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, ep: AgencyEndpoint) -> EndpointOut:
        return cls(
            id=ep.id, agency_id=ep.agency_id, url=ep.url, fingerprint=ep.fingerprint, status=ep.status,
            created_at=ep.created_at, verified_at=ep.verified_at, revoked_at=ep.revoked_at,
        )


class AgencyOut(BaseModel):
    id: str
    name: str
    kind: str
    jurisdiction: str
    represents_state: str | None
    vetting_status: str
    vetted_at: datetime | None
    mandated_reporter: bool
    statutory_duties: list[str]
    confidentiality_policy_version: str | None
    exception_policy: list[dict[str, Any]]
    keys: list[KeyOut]
    endpoints: list[EndpointOut] | None = None
    """Only shown to the agency itself and the operator."""

    @classmethod
    def of(cls, agency: Agency, *, with_endpoints: bool) -> AgencyOut:
        return cls(
            id=agency.id, name=agency.name, kind=agency.kind, jurisdiction=agency.jurisdiction,
            represents_state=agency.represents_state, vetting_status=agency.vetting_status, vetted_at=agency.vetted_at,
            mandated_reporter=agency.mandated_reporter, statutory_duties=list(agency.statutory_duties),
            confidentiality_policy_version=agency.confidentiality_policy_version,
            exception_policy=list(agency.exception_policy),
            keys=_keys_out(agency),
            endpoints=[EndpointOut.of(e) for e in agency.endpoints] if with_endpoints else None,
        )


def _keys_out(agency: Agency) -> list[KeyOut]:
    session = object_session(agency)
    keys = list(agency.keys)
    bound = chain(session, agency.id) if session is not None and keys else None
    return [KeyOut.of(k, bound) for k in keys]


class RecipientKeyOut(BaseModel):
    agency_id: str
    kind: str
    key_id: str
    public_key: str
    fingerprint: str
