"""The policy engine's input fragments for a subject and its consents: pure functions.

The shapes are a contract with ``policies/gateway/*.rego``::

    subject:  {"id", "is_child", "age_disputed", "asylum_claimed", "possible_refugee",
               "country_of_origin", "declined_nrm", "placement_agency_id",
               "guardian_advocate_id", "guardian_advocate_agency_id", "guardian_suspected",
               "open_cases": [{"recipient_agency_id"}], "cj_role", "contact_safety",
               "golden_day_until": RFC 3339 "Z" | null}
    consents: [{"id", "purpose", "recipients": [agency ids], "scope", "data_classes": [...],
                "cj_option": null | ..., "expires_at": RFC 3339 "Z",
                "guardian_consent": bool | null, "child_views_recorded": bool | null,
                "subject_id", "countries": [ISO 3166 codes named explicitly]}]

``subject_id`` and ``countries`` go beyond the shape first agreed: ``policies/input.schema.json``
requires ``subject_id`` (``consent.rego`` ignores a consent whose subject differs, a useful
second check) and reads ``countries`` for CR25 (a cross-border recipient counts only when the
person agreed to its country). Without them every consent would be ignored: fail-closed,
but nothing could ever be shared.

Only consents in force belong in ``consents``, read at decision time (never a cached list):
``consent.service.consent_documents_in_force`` reads them in one statement and builds them
with :func:`fragments_from_rows`; from ``ConsentRecord`` objects, :func:`consents_fragment`
re-checks and drops anything not in force at ``at`` all the same. Both build each entry with
the same function, and the tests check that both reads agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from itertools import groupby
from operator import attrgetter
from typing import Any, Protocol

from kernel.timestamps import rfc3339

from .age import is_child
from .models import ConsentEnding, ConsentRecord
from .subjects import Subject

__all__ = [
    "consent_documents",
    "consent_fragment",
    "consents_fragment",
    "fragments_from_rows",
    "subject_document",
    "subject_fragment",
]


def subject_fragment(subject: Subject, at: datetime, *, placement_agency_id: str | None = None) -> dict[str, Any]:
    """The ``subject`` fragment, with ``is_child`` evaluated at ``at`` (CH1).

    The subject row holds only a keyed reference to the placement (:mod:`consent.placement`): the
    caller, which holds the key, passes ``placement_agency_id`` = the request's recipient when the
    recipient is the placement (all ``firewalls.rego`` compares), None otherwise."""
    return {
        "id": subject.id,
        "is_child": is_child(subject, at),
        "age_disputed": bool(subject.age_disputed),
        "asylum_claimed": bool(subject.asylum_claimed),
        "possible_refugee": bool(subject.possible_refugee),
        "country_of_origin": subject.country_of_origin,
        "declined_nrm": bool(subject.declined_nrm),
        "placement_agency_id": placement_agency_id,
        "guardian_advocate_id": subject.guardian_advocate_id,
        "guardian_advocate_agency_id": subject.guardian_advocate_agency_id,
        "guardian_suspected": bool(subject.guardian_suspected),
        "open_cases": [{"recipient_agency_id": c["recipient_agency_id"]} for c in subject.open_cases],
        "cj_role": subject.cj_role,
        "contact_safety": subject.contact_safety,
        "golden_day_until": _golden_day_until(subject, at),
    }


#: A child's Golden Day: at least 72 hours from the referral (CH14, Standard 55), during which
#: nothing may reach the child's own device (digest 8.2 item 11, SEC11); ``policies/data/
#: firewalls.json`` ``golden_day.hours`` says the same (tests/rules check both agree).
GOLDEN_DAY = timedelta(hours=72)


def _golden_day_until(subject: Subject, at: datetime) -> str | None:
    """The end of a child's Golden Day, counted from the NRM referral; None for an adult or a child
    not yet referred (the referral starts it)."""
    if subject.nrm_referred_at is None or not is_child(subject, at):
        return None
    return rfc3339(subject.nrm_referred_at + GOLDEN_DAY)


def _child_flag(present: bool, recorded_for_child: bool) -> bool | None:
    # null: not asked (the subject was not processed as a child when this was recorded);
    # false: recorded for a child without it; true: recorded.
    if present:
        return True
    return False if recorded_for_child else None


class _RecordFields(Protocol):
    """What a fragment reads of a consent record: a ``ConsentRecord``, or a row of
    ``consent.service.IN_FORCE_ROWS`` (the record's columns and one recipient's)."""

    id: str
    subject_id: str
    purpose: str
    scope: str
    data_classes: list[str]
    cj_option: str | None
    expires_at: datetime
    guardian_id: str | None
    child_views_recorded_at: datetime | None
    recorded_for_child: bool


def _fragment(record: _RecordFields, recipients: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    named = list(recipients)  # (agency id, country)
    return {
        "id": record.id,
        "subject_id": record.subject_id,
        "purpose": record.purpose,
        "recipients": sorted(agency_id for agency_id, _ in named),
        "countries": sorted({country for _, country in named if country}),
        "scope": record.scope,
        "data_classes": sorted(record.data_classes, key=lambda c: int(c[1:])),
        "cj_option": record.cj_option,
        "expires_at": rfc3339(record.expires_at),
        "guardian_consent": _child_flag(record.guardian_id is not None, record.recorded_for_child),
        "child_views_recorded": _child_flag(record.child_views_recorded_at is not None, record.recorded_for_child),
    }


def consent_fragment(record: ConsentRecord) -> dict[str, Any]:
    """One entry of the ``consents`` fragment."""
    return _fragment(record, ((r.agency_id, r.country) for r in record.recipients))


def fragments_from_rows(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Fragments from rows of ``consent.service.IN_FORCE_ROWS``: one row per (record, recipient),
    a record's rows together, records in the order of :func:`consent_documents`."""
    fragments: list[dict[str, Any]] = []
    for _, group in groupby(rows, key=attrgetter("id")):
        record_rows = list(group)
        fragments.append(_fragment(record_rows[0], ((r.agency_id, r.country) for r in record_rows
                                                    if r.agency_id is not None)))
    return fragments


def consents_fragment(
    records: Iterable[ConsentRecord],
    at: datetime,
    endings: Mapping[str, ConsentEnding] | None = None,
) -> list[dict[str, Any]]:
    """Fragments of the records in force at ``at`` (ended, expired or future ones are dropped)."""
    ended = endings or {}
    return [
        consent_fragment(r)
        for r in sorted(records, key=lambda r: (r.purpose, r.obtained_at, r.id))
        if r.id not in ended and r.obtained_at <= at < r.expires_at
    ]


def subject_document(subject: Subject, at: datetime, *, placement_agency_id: str | None = None) -> dict[str, Any]:
    """Alias of :func:`subject_fragment` (the name the exchange adapter uses)."""
    return subject_fragment(subject, at, placement_agency_id=placement_agency_id)


def consent_documents(records: Iterable[ConsentRecord]) -> list[dict[str, Any]]:
    """Fragments of ``records``, which the caller already selected as in force at decision time."""
    return [consent_fragment(r) for r in sorted(records, key=lambda r: (r.purpose, r.obtained_at, r.id))]
