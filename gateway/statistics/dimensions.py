"""What a statistics table may be broken down by, and each breakdown's public list of values.

Every value list is fixed in advance and public (the gateway's own vocabularies), never taken
from the data: a table lists every combination, including those nobody is in, so the shape of a
release says nothing about who is in the store. Anything outside a list is counted as ``other``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from consent.age import age_from_adult_on
from consent.vocabulary import AgeBand, ExploitationType, NrmOutcome, Purpose, Sex

from ..audit.search import EXCEPTION_BASES
from ..registry.models import AgencyKind

UNKNOWN = "unknown"
OTHER = "other"
NONE = "none"


class Source(StrEnum):
    """What a table counts."""

    PERSONS = "persons"
    """People, by the month they were first recorded at the gateway: each person is one row."""
    EVENTS = "events"
    """Things that happened (decisions, referrals, exceptions, withdrawals, complaints, missed
    deadlines), by month: one person may add several rows (bounded per table, see release)."""


class Event(StrEnum):
    DECISION_ALLOWED = "decision_allowed"
    DECISION_DENIED = "decision_denied"
    REFERRAL = "referral"
    EXCEPTION = "exception"
    WITHDRAWAL = "withdrawal"
    COMPLAINT = "complaint"
    CORRECTION_REQUEST = "correction_request"
    NRM_DEADLINE_MISSED = "nrm_deadline_missed"


class NrmStage(StrEnum):
    NOT_REFERRED = "not_referred"
    AWAITING_STAGE1 = "awaiting_stage1"
    STAGE1_POSITIVE = "stage1_positive"
    STAGE1_NEGATIVE = "stage1_negative"
    STAGE2_POSITIVE = "stage2_positive"
    STAGE2_NEGATIVE = "stage2_negative"


class Deadline(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"


class Granularity(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    WHOLE = "whole"


# Continents (UN M49 regions) by ISO 3166-1 alpha-2 code: coarse enough that a group is never one
# country's handful of people. The gateway's own country may be set apart as "national".
_REGIONS = {
    "africa": "DZ AO BJ BW BF BI CV CM CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML "
              "MR MU YT MA MZ NA NE NG RE RW SH ST SN SC SL SO ZA SS SD TZ TG TN UG EH ZM ZW",
    "americas": "AI AG AR AW BS BB BZ BM BO BQ BR VG CA KY CL CO CR CU CW DM DO EC SV FK GF GL GD GP GT GY HT HN "
                "JM MQ MX MS NI PA PY PE PR BL KN LC MF PM VC SX SR TT TC US UY VI VE",
    "asia": "AF AM AZ BH BD BT BN KH CN CY GE HK IN ID IR IQ IL JP JO KZ KW KG LA LB MO MY MV MN MM NP KP OM PK PS "
            "PH QA SA SG KR LK SY TW TJ TH TL TR TM AE UZ VN YE",
    "europe": "AX AL AD AT BY BE BA BG HR CZ DK EE FO FI FR DE GI GR GG VA HU IS IE IM IT JE XK LV LI LT LU MT MD "
              "MC ME NL MK NO PL PT RO RU SM RS SK SI ES SJ SE CH UA GB",
    "oceania": "AS AU CK FJ PF GU KI MH FM NR NC NZ NU NF MP PW PG PN WS SB TK TO TV VU WF",
}
REGION_OF = {code: region for region, codes in _REGIONS.items() for code in codes.split()}
NATIONALITY_GROUPS = ("national", *_REGIONS, OTHER, UNKNOWN)


def nationality_group(country: str | None, home_country: str) -> str:
    if not country:
        return UNKNOWN
    if home_country and country.upper() == home_country.upper():
        return "national"
    return REGION_OF.get(country.upper(), OTHER)


def _age_band_of(age: int) -> str:
    for limit, band in ((11, AgeBand.AGE_0_11), (15, AgeBand.AGE_12_15), (17, AgeBand.AGE_16_17),
                        (24, AgeBand.AGE_18_24), (34, AgeBand.AGE_25_34), (49, AgeBand.AGE_35_49)):
        if age <= limit:
            return str(band)
    return str(AgeBand.AGE_50_PLUS)


def age_band(recorded_band: str | None, adult_on: date | None, at: datetime) -> str:
    """The band recorded, or the band of the age on ``at`` (the first record) from the day the person
    comes of age (what the gateway keeps of a date of birth)."""
    if recorded_band in {str(b) for b in AgeBand}:
        return str(recorded_band)
    if adult_on is not None:
        return _age_band_of(max(age_from_adult_on(adult_on, at.date()), 0))
    return UNKNOWN


def coded(value: str | None, values: tuple[str, ...]) -> str:
    """``value`` if it is in the list, ``none`` when absent, ``other`` otherwise."""
    if value is None or value == "":
        return NONE
    return value if value in values else OTHER


PURPOSES = tuple(str(p) for p in Purpose)
RECIPIENT_KINDS = tuple(str(k) for k in AgencyKind)
BASES = ("consent", *EXCEPTION_BASES)


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str
    values: tuple[str, ...]
    sources: frozenset[Source]


_BOTH = frozenset(Source)
DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("age_band", "Age band at first record", (*(str(b) for b in AgeBand), UNKNOWN),
              frozenset({Source.PERSONS})),
    Dimension("sex", "Sex", (*(str(s) for s in Sex), UNKNOWN), frozenset({Source.PERSONS})),
    Dimension("nationality_group", "Nationality (region)", NATIONALITY_GROUPS, frozenset({Source.PERSONS})),
    Dimension("exploitation_type", "Form of exploitation", (*(str(e) for e in ExploitationType), UNKNOWN),
              frozenset({Source.PERSONS})),
    Dimension("child", "Child or adult", ("child", "adult", UNKNOWN), _BOTH),
    Dimension("nrm_stage", "NRM stage reached", tuple(str(s) for s in NrmStage), frozenset({Source.PERSONS})),
    Dimension("stage1_deadline", "NRM Stage 1 decision deadline", tuple(str(d) for d in Deadline),
              frozenset({Source.PERSONS})),
    Dimension("event", "What happened", tuple(str(e) for e in Event), frozenset({Source.EVENTS})),
    Dimension("purpose", "Purpose", (*PURPOSES, OTHER, NONE), frozenset({Source.EVENTS})),
    Dimension("recipient_kind", "Kind of recipient agency", (*RECIPIENT_KINDS, OTHER, NONE),
              frozenset({Source.EVENTS})),
    Dimension("basis", "Basis (consent or exception)", (*BASES, OTHER, NONE), frozenset({Source.EVENTS})),
)}
NRM_OUTCOMES = tuple(str(o) for o in NrmOutcome)
