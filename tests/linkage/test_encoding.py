"""The SDK's linkage keys: tolerant of spellings and scripts, useless without the shared secret."""

from __future__ import annotations

from datetime import date

import pytest
from bitarray import bitarray
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.linkage import (
    LinkageSecret,
    PersonIdentifiers,
    dice,
    encode,
    latin_form,
    skeleton,
    tokens,
)
from gateway.linkage.service import POSSIBLE

SECRET = LinkageSecret("2026-12", bytes(range(32)))
BORN = date(2001, 3, 14)


def _key(*names: str, born: date | None = BORN, sex: str | None = "f", nationality: str | None = "ER",
         secret: LinkageSecret = SECRET, years: tuple[int, int] | None = None) -> bitarray:
    return encode(PersonIdentifiers(names=names, birth_date=born, birth_year_range=years, sex=sex,
                                    nationality=nationality), secret).bits


@pytest.mark.parametrize("variant", [
    ("أمينة بكري",),           # Arabic script
    ("بكري أمينة",),           # Arabic, family name first
    ("Амина Бакри",),          # Cyrillic
    ("Bakri Amina",),          # swapped order
    ("Aminah Bakry",),         # another Latin spelling
    ("Amnia Bakri",),          # a typo (transposed letters)
    ("Amina Bakri-Tesfaye",),  # an added family name
])
def test_one_person_written_many_ways_stays_above_the_threshold(variant: tuple[str, ...]) -> None:
    assert dice(_key("Amina Bakri"), _key(*variant)) >= POSSIBLE


def test_an_age_band_instead_of_a_birth_date_still_matches() -> None:
    band = PersonIdentifiers.age_band_years("25-34", date(2026, 12, 1))
    assert dice(_key("Amina Bakri"), _key("Amina Bakri", born=None, years=band, nationality=None)) >= POSSIBLE


@pytest.mark.parametrize(("other", "born"), [
    ("Fatima Yusuf", BORN),
    ("Amina Tesfaye", BORN),             # the same given name, born the same day
    ("Mariam Bakri", date(1998, 7, 2)),  # the same family name (a sister)
    ("Amina Bakri", date(1985, 9, 2)),   # the same name, born years apart
])
def test_other_people_stay_below_the_threshold(other: str, born: date) -> None:
    assert dice(_key("Amina Bakri"), _key(other, born=born)) < POSSIBLE


def test_a_twin_sister_is_a_possible_match_that_the_follow_up_resolves() -> None:
    # The same family name, birth date, sex and nationality: the linkage key cannot tell twins
    # apart, so the answer is "possible", and the information request settles it.
    assert dice(_key("Amina Bakri"), _key("Mariam Bakri")) >= POSSIBLE


def test_scripts_meet_on_one_latin_form_and_skeleton() -> None:
    assert latin_form("Мухаммед аль-Хасан") == ["mukhammed", "khasan"]
    assert [skeleton(p) for p in latin_form("محمد الحسن")] == [skeleton(p) for p in latin_form("Mohammed al-Hassan")]
    assert {skeleton(p) for p in ("yusuf", "ywsf", "yousef")} == {"sf"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=30), max_size=4), st.sampled_from(["f", "m", "x", None]),
       st.one_of(st.none(), st.dates(min_value=date(1930, 1, 1), max_value=date(2026, 12, 1))))
def test_every_key_is_balanced_whatever_the_input(names: list[str], sex: str | None, born: date | None) -> None:
    key = encode(PersonIdentifiers(names=tuple(names), birth_date=born, sex=sex), SECRET)
    # Exactly half the bits set: a key's weight says nothing about the name's length.
    assert len(key.bits) == 2048 and key.bits.count() == 1024
    assert key.document()["clk"] and key.document()["epoch"] == "2026-12"


def test_without_the_secret_a_dictionary_of_names_confirms_nothing() -> None:
    """Someone with every stored key and the encoder, but not the secret, tries a dictionary."""
    stored = _key("Amina Bakri")
    dictionary = ["Amina Bakri", "Fatima Yusuf", "Mariam Bakri", "Aisha Yusuf", "Amina Tesfaye"]
    guessed_secrets = [LinkageSecret("2026-12", bytes(32)), LinkageSecret("2026-12", b"2026-12" * 5),
                       LinkageSecret.generate("2026-12")]
    scores = [dice(stored, _key(name, secret=guess)) for name in dictionary for guess in guessed_secrets]
    # The right name under a wrong secret scores like any stranger: nothing stands out.
    assert max(scores) < POSSIBLE
    right_name = scores[:len(guessed_secrets)]
    assert max(right_name) - min(scores) < 0.1
    # The control: with the secret, the dictionary would work. That is why it never leaves the agencies.
    assert dice(stored, _key("Amina Bakri")) == 1.0


def test_keys_of_two_epochs_cannot_be_linked() -> None:
    old, new = LinkageSecret("2026-12", bytes(range(32))), LinkageSecret("2027-01", bytes(range(32)))
    # Even the same secret bytes under a new epoch id: the field keys and the permutation differ.
    assert dice(_key("Amina Bakri", secret=old), _key("Amina Bakri", secret=new)) < POSSIBLE


def test_the_secret_never_shows_in_its_repr_and_round_trips_as_text() -> None:
    assert "key='**********'" in repr(SECRET) and bytes(range(32)).hex() not in repr(SECRET)
    again = LinkageSecret.from_text(SECRET.to_text())
    assert again.check_value() == SECRET.check_value() and again.epoch == SECRET.epoch
    with pytest.raises(ValueError, match="32 random bytes"):
        LinkageSecret("e", b"short")
    with pytest.raises(ValueError, match="epoch id"):
        LinkageSecret("bad epoch!", bytes(32))


def test_tokens_stay_plain_only_at_the_agency() -> None:
    plain = tokens(PersonIdentifiers(names=("Amina Bakri",), birth_date=BORN, sex="f", nationality="ER"))
    assert "am" in plain["name"] and plain["year"] == {"2001"} and plain["nationality"] == {"ER"}
    document = encode(PersonIdentifiers(names=("Amina Bakri",), birth_date=BORN), SECRET).document()
    assert set(document) == {"epoch", "clk", "check_value", "version"}
    assert "amina" not in str(document).lower() and "2001" not in str(document)
