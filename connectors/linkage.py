"""Linkage keys: a person's identifiers as a Bloom-filter cryptographic linkage key (CLK).

The agency encodes, the gateway compares: identifiers (name variants in any script, date of
birth or an age band, sex, nationality) never leave the agency. Each one is turned into
tokens, each token is hashed with a key derived from a secret that only the participating
agencies share (the gateway never has it), and the hashes set bits in one filter. Two
encodings of the same person written differently share most of their bits, so the gateway
can measure how alike two keys are (the Dice coefficient) without learning who either is.

How the tokens tolerate the ways one name gets written down:

- **scripts**: every name is transliterated to a common Latin form (``anyascii``), after
  removing Arabic vowel marks and the article ``ال``; *skeleton* tokens (the consonants,
  with ``kh``/``sh``/``ph``... reduced and doubles collapsed) make ``أمينة``, ``Амина`` and
  ``Amina`` meet on ``mn`` even though Arabic writes no short vowels;
- **typos**: a name contributes its letter pairs (bigrams), so one wrong letter changes two
  of them, not the whole name;
- **swapped name order**: the parts of all given names are one bag of tokens, so
  "Bakri Amina" is "Amina Bakri";
- **dates**: year, month and day are separate tokens, plus two overlapping four-year cohorts,
  so a wrong day keeps most of the date and an age band ("25-34") still meets a birth date.

How the encoding resists attack (the analysis is in the README, "Record linkage"):

- **keyed hashing, salted per field**: a token's bit positions come from BLAKE2b keyed with
  ``HMAC-SHA256(secret, "srg-linkage/v1|<epoch>|<field>")``: without the secret nobody can
  compute which bits a name sets, so a dictionary of names is useless; the same bigram in
  two fields sets unrelated bits;
- **random hashing** (each token's positions drawn from its keyed digest, not the double
  hashing scheme whose structure the Niedermeyer attack exploits), from ``fable-core``;
- **balancing** (``fable-core``): the filter is followed by its complement, so every key has
  exactly half its bits set and a key's weight tells nothing about how long the name is; then
  a **keyed permutation** of the positions mixes the two halves;
- **epochs**: rotating the shared secret gives a new epoch id; keys of two epochs share
  nothing, and the gateway refuses keys of a retired epoch.

``clkhash`` (Data61), the reference encoder, cannot be installed beside this project: its
0.18.3 release pins ``cryptography<41`` (a downgrade to a release with known advisories) and
``mypy_extensions<0.5`` (which conflicts with mypy), so pip refuses the combination. The same
construction is built here from kept parts: ``fable-core`` (Leipzig's Bloom-filter PPRL
primitives: random hashing, balancing), ``bitarray``, ``anyascii`` and the
standard library's keyed BLAKE2b and HMAC.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from random import Random
from typing import TYPE_CHECKING, Any, Final

from anyascii import anyascii
from bitarray import bitarray
from fable_core import bits as fable_bits
from fable_core import harden as fable_harden

if TYPE_CHECKING:  # pragma: no cover
    from .client import GatewayClient

__all__ = [
    "SCHEMA",
    "LinkageKey",
    "LinkageSchema",
    "LinkageSecret",
    "PersonIdentifiers",
    "dice",
    "encode",
    "enrol",
    "latin_form",
    "query",
    "skeleton",
    "tokens",
]

VERSION: Final = "srg-linkage/v1"
_EPOCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


@dataclass(frozen=True)
class LinkageSchema:
    """How many bits each kind of token sets (its weight in the similarity) and the filter size."""

    filter_bits: int = 1024
    """Before balancing; a stored key is twice this (2048 bits, 256 bytes)."""
    name_bigram: int = 4
    skeleton_bigram: int = 10
    skeleton_whole: int = 16
    year: int = 20
    month: int = 30
    day: int = 30
    day_month: int = 30
    cohort: int = 4
    sex: int = 8
    nationality: int = 8

    @property
    def key_bytes(self) -> int:
        return 2 * self.filter_bits // 8


SCHEMA: Final = LinkageSchema()


class LinkageSecret:
    """The secret the participating agencies share for one epoch (never sent to the gateway).

    ``repr`` never shows the key. Make one with :meth:`generate` at one agency and hand it to the
    others out of band (as the registry's key fingerprints are checked: by phone, in person).
    """

    __slots__ = ("_key", "epoch")

    def __init__(self, epoch: str, key: bytes) -> None:
        if not _EPOCH.fullmatch(epoch):
            raise ValueError("an epoch id is 1-40 letters, digits, '.', '_' or '-'")
        if len(key) < 32:
            raise ValueError("a linkage secret has at least 32 random bytes")
        self.epoch = epoch
        self._key = bytes(key)

    @classmethod
    def generate(cls, epoch: str) -> LinkageSecret:
        return cls(epoch, secrets.token_bytes(32))

    @classmethod
    def from_text(cls, text: str) -> LinkageSecret:
        """Parse ``<epoch>:<base64url key>`` (what :meth:`to_text` writes)."""
        epoch, _, encoded = text.strip().partition(":")
        return cls(epoch, base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))

    def to_text(self) -> str:
        return f"{self.epoch}:{base64.urlsafe_b64encode(self._key).rstrip(b'=').decode()}"

    def __repr__(self) -> str:
        return f"LinkageSecret(epoch={self.epoch!r}, key='**********')"

    def field_key(self, name: str) -> bytes:
        """The per-field key: HMAC-SHA256 over the version, epoch and field name."""
        return hmac.new(self._key, f"{VERSION}|{self.epoch}|{name}".encode(), hashlib.sha256).digest()

    def check_value(self) -> str:
        """A value that shows two agencies hold the same secret, and reveals nothing of it.

        The gateway keeps the first one it sees per epoch and refuses keys made with another
        secret (they would silently never match).
        """
        return self.field_key("check-value")[:12].hex()


@dataclass(frozen=True)
class PersonIdentifiers:
    """What an agency knows of a person; any field may be missing.

    ``names`` holds every name the person is known by, in any script and any order (given
    names and family names together). ``birth_year_range`` is for an age band or an estimate
    (``(1996, 2001)``) when no date of birth is known. ``sex`` is ``f``, ``m`` or ``x``;
    ``nationality`` an ISO 3166-1 alpha-2 code.
    """

    names: tuple[str, ...] = ()
    birth_date: date | None = None
    birth_year_range: tuple[int, int] | None = None
    sex: str | None = None
    nationality: str | None = None

    @staticmethod
    def age_band_years(band: str, on: date) -> tuple[int, int]:
        """Birth years an age band such as ``"25-34"`` (ages on ``on``) allows."""
        low, _, high = band.partition("-")
        youngest, oldest = int(low), int(high or low)
        return on.year - oldest - 1, on.year - youngest


@dataclass(frozen=True)
class LinkageKey:
    """One encoded person: the epoch, the balanced and permuted filter, and the secret's check value."""

    epoch: str
    bits: bitarray = field(repr=False)
    check_value: str

    @property
    def b64(self) -> str:
        return base64.b64encode(self.bits.tobytes()).decode()

    def document(self) -> dict[str, Any]:
        """The body the gateway stores: no identifier, nothing that opens without the secret."""
        return {"epoch": self.epoch, "clk": self.b64, "check_value": self.check_value, "version": VERSION}


# ---------------------------------------------------------------------------------------- tokens

_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat, superscript alif, tatweel
_ARABIC_ARTICLE = re.compile(r"(?<![\u0600-\u06ff])ال(?=[\u0600-\u06ff]{2})")
_ARABIC_LETTERS = str.maketrans({"ة": "a", "ى": "a", "أ": "ا", "إ": "ا", "آ": "ا", "ؤ": "و", "ئ": "ي"})
_NOT_LETTER = re.compile(r"[^a-z ]+")
_PARTICLES: Final = frozenset({"al", "el", "bin", "ibn", "ben", "bint", "abu", "binti"})
_DIGRAPHS: Final = (("kh", "h"), ("sh", "s"), ("ch", "s"), ("ph", "f"), ("th", "t"), ("dh", "d"), ("gh", "g"),
                    ("q", "k"), ("c", "k"), ("z", "s"))
_VOWELS = re.compile(r"[aeiouyw]")
_DOUBLES = re.compile(r"(.)\1+")


def latin_form(name: str) -> list[str]:
    """A name's parts in a common lower-case Latin form, particles dropped.

    >>> latin_form("Bakri, Amina") == latin_form("amina BAKRI")[::-1]
    True
    """
    text = unicodedata.normalize("NFC", name)
    text = _ARABIC_MARKS.sub("", text)
    text = _ARABIC_ARTICLE.sub("", text).translate(_ARABIC_LETTERS)
    text = anyascii(text).lower().replace("-", " ")
    text = _NOT_LETTER.sub("", text)
    return [part for part in text.split() if part and part not in _PARTICLES]


def skeleton(part: str) -> str:
    """The consonant skeleton of one Latin name part: what survives vowel-less scripts and spellings.

    >>> {skeleton(p) for p in ("mohammed", "muhammad", "mhmd", "mukhammed")}
    {'mhmd'}
    """
    text = part
    for digraph, single in _DIGRAPHS:
        text = text.replace(digraph, single)
    text = _VOWELS.sub("", text)
    text = _DOUBLES.sub(r"\1", text)
    if len(text) > 1 and text.endswith("h"):
        text = text[:-1]
    return text


_WEIGHTS: Final = {"name": "name_bigram", "skeleton": "skeleton_bigram", "skeleton_whole": "skeleton_whole",
                   "year": "year", "month": "month", "day": "day", "day_month": "day_month", "cohort": "cohort",
                   "sex": "sex", "nationality": "nationality"}
"""Each field's tokens and the schema weight (bits per token) they set."""


def _bigrams(text: str) -> set[str]:
    padded = f"_{text}_"
    return {padded[i:i + 2] for i in range(len(padded) - 1)}


def tokens(person: PersonIdentifiers) -> dict[str, set[str]]:
    """The tokens of each field (plain text: they never leave the agency)."""
    out: dict[str, set[str]] = {field_name: set() for field_name in _WEIGHTS}
    for name in person.names:
        for part in latin_form(name):
            out["name"] |= _bigrams(part)
            bones = skeleton(part)
            if bones:
                out["skeleton"] |= _bigrams(bones)
                out["skeleton_whole"].add(bones)
    if person.birth_date is not None:
        born = person.birth_date
        out["year"].add(str(born.year))
        out["month"].add(f"{born.month:02d}")
        out["day"].add(f"{born.day:02d}")
        out["day_month"].add("-".join(sorted((f"{born.month:02d}", f"{born.day:02d}"))))  # survives d/m swapped
        years = range(born.year, born.year + 1)
    elif person.birth_year_range is not None:
        low, high = sorted(person.birth_year_range)
        years = range(low, high + 1)
    else:
        years = range(0)
    for year in years:  # every cohort the person may belong to, on two overlapping grids
        out["cohort"] |= {f"a{year // 4}", f"b{(year + 2) // 4}"}
    if person.sex:
        out["sex"].add(person.sex.strip().lower()[:1])
    if person.nationality:
        out["nationality"].add(person.nationality.strip().upper())
    return out


# -------------------------------------------------------------------------------------- encoding

def _positions_seed(field_key: bytes, token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), key=field_key, digest_size=32).digest(), "big")


def encode(person: PersonIdentifiers, secret: LinkageSecret, schema: LinkageSchema = SCHEMA) -> LinkageKey:
    """The person's linkage key under ``secret``: balanced, permuted, ``2 * filter_bits`` long."""
    filter_ = bitarray(schema.filter_bits)
    filter_.setall(0)
    for field_name, values in tokens(person).items():
        k = int(getattr(schema, _WEIGHTS[field_name]))
        key = secret.field_key(field_name)
        for token in sorted(values):
            fable_bits.random_hash(filter_, k, Random(_positions_seed(key, token)))
    balanced = fable_harden.balance()(filter_).tolist()
    order = _permutation(secret.field_key("permutation"), len(balanced))
    permuted = bitarray([balanced[i] for i in order])
    return LinkageKey(epoch=secret.epoch, bits=permuted, check_value=secret.check_value())


@functools.lru_cache(maxsize=8)
def _permutation(seed: bytes, length: int) -> tuple[int, ...]:
    """A keyed, uniformly drawn permutation of the bit positions (Fisher-Yates), made once per epoch.

    fable-core's ``permute`` hardener redraws it for every key and draws ``j < i`` (Sattolo's
    algorithm, cyclic permutations only); the shuffle of the standard library is uniform.
    """
    order = list(range(length))
    Random(int.from_bytes(seed, "big")).shuffle(order)
    return tuple(order)


def dice(a: bitarray, b: bitarray) -> float:
    """The Dice coefficient of two keys (what the gateway computes, for agencies' own checks)."""
    both = (a & b).count()
    total = a.count() + b.count()
    return 2 * both / total if total else 0.0


# ------------------------------------------------------------------------------------- the API

def enrol(client: GatewayClient, subject_id: str, key: LinkageKey) -> dict[str, Any]:
    """Store (or replace) the linkage key of one of the agency's own subjects at the gateway."""
    return dict(client.request("PUT", f"/v1/linkage/subjects/{subject_id}/key", json=key.document()))


def query(client: GatewayClient, subject_id: str) -> dict[str, Any]:
    """Ask whether another agency may already know this subject.

    The answer lists ``{"agency_id", "strength", "match_id"}`` for the agencies the policy lets
    this agency learn about, or nothing; it never carries another agency's subject id or data:
    follow up with an information request or a referral naming the ``match_id``.

    A question is asked for a signed-in person, whose role the policy decides with: pass
    ``client.acting_for(person_token)``; the agency's client alone is refused (``person_token_required``).
    """
    return dict(client.request("POST", "/v1/linkage/queries", json={"subject_id": subject_id}))
