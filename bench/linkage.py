"""Record-linkage benchmark: match quality of linkage keys against plaintext matching, and query time.

    .venv/bin/python bench/linkage.py                                  # 2 000 people, 10 k and 1 M stored keys
    .venv/bin/python bench/linkage.py --people 300 --stored 1000       # quick

Quality. The project's own synthetic population: people drawn from name lists of the
regions the handbooks deal with (Horn of Africa, Arabic-speaking countries, Nigeria,
Ukraine and Russia, Viet Nam, the Balkans), with Zipf-weighted given and family names (so
many people share a common name), birth dates, sex and nationality. Agency A holds ``people``
records; agency B holds as many, half of them the same people written down again with
moderate corruption: the name in Arabic or Cyrillic script where it has one (30 %), another
Latin spelling of a part (20 % a part), one typo (25 %), name parts swapped (20 %), an age
band instead of the date of birth (5 %), a wrong day or month, or the two swapped (10 %),
nationality missing (15 %), sex missing (5 %). Both agencies encode with the SDK
(``connectors.linkage.encode``); each B record is compared with every A key (anonlink's Dice
kernel, as the gateway does) and its best A key above the threshold is its predicted match.
The same is done in plaintext, on the very same tokens with the same weights (the upper bound
any Bloom-filter encoding can reach), and with exact matching on the normalised name and date
of birth (what a clear-text "do you have Amina B., born 2001?" would find).

Query time. ``stored`` random balanced keys (content does not change the cost of a pass) in
the gateway's in-memory index (``gateway.linkage.index.KeyIndex``); one query is timed many
times; anonlink's public ``dice_coefficient_accelerated`` is timed in the same run as the
baseline (it packs every stored key again on each call).

Prints a table, then exactly one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bitarray import bitarray

from connectors.linkage import SCHEMA, LinkageSecret, PersonIdentifiers, encode, latin_form, tokens
from gateway.linkage.index import KEY_BYTES, KeyIndex
from gateway.linkage.service import POSSIBLE

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from anonlink.similarities import dice_coefficient_accelerated

TODAY = date(2026, 12, 1)

# (Latin, Arabic script or None, Cyrillic or None, other Latin spellings, sex)
GIVEN: list[tuple[str, str | None, str | None, list[str], str]] = [
    ("Amina", "أمينة", "Амина", ["Aminah", "Ameena"], "f"), ("Fatima", "فاطمة", "Фатима", ["Fatma", "Fatimah"], "f"),
    ("Aisha", "عائشة", "Аиша", ["Aysha", "Ayesha"], "f"), ("Mariam", "مريم", "Мариам", ["Maryam", "Meriam"], "f"),
    ("Khadija", "خديجة", "Хадиджа", ["Khadijah", "Hadiza"], "f"), ("Zainab", "زينب", "Зайнаб", ["Zaynab"], "f"),
    ("Hawa", "حواء", "Хава", ["Hawaa"], "f"), ("Salma", "سلمى", "Сальма", ["Selma"], "f"),
    ("Nour", "نور", "Нур", ["Noor", "Nur"], "f"), ("Yasmin", "ياسمين", "Ясмин", ["Yasmine"], "f"),
    ("Halima", "حليمة", "Халима", ["Haleema"], "f"), ("Samira", "سميرة", "Самира", ["Sameera"], "f"),
    ("Natalia", None, "Наталья", ["Natalya", "Natalja"], "f"), ("Olga", None, "Ольга", ["Olha"], "f"),
    ("Svetlana", None, "Светлана", ["Swetlana"], "f"), ("Irina", None, "Ирина", ["Iryna"], "f"),
    ("Oksana", None, "Оксана", ["Oxana"], "f"), ("Tatiana", None, "Татьяна", ["Tatyana", "Tetiana"], "f"),
    ("Elena", None, "Елена", ["Yelena", "Olena"], "f"), ("Blessing", None, None, ["Blessyn"], "f"),
    ("Precious", None, None, [], "f"), ("Mercy", None, None, [], "f"), ("Joy", None, None, [], "f"),
    ("Linh", None, None, ["Lin"], "f"), ("Huong", None, None, ["Huang"], "f"),
    ("Mihaela", None, None, ["Michaela"], "f"),
    ("Elira", None, None, [], "f"), ("Selam", None, None, ["Salam"], "f"), ("Mebrat", None, None, ["Mibrat"], "f"),
    ("Mohammed", "محمد", "Мухаммед", ["Muhammad", "Mohamed"], "m"), ("Ahmed", "أحمد", "Ахмед", ["Ahmad"], "m"),
    ("Yusuf", "يوسف", "Юсуф", ["Yousef", "Youssef"], "m"), ("Ibrahim", "إبراهيم", "Ибрагим", ["Ebrahim"], "m"),
    ("Omar", "عمر", "Омар", ["Umar"], "m"), ("Hassan", "حسن", "Хасан", ["Hasan"], "m"),
    ("Ali", "علي", "Али", ["Aly"], "m"), ("Mustafa", "مصطفى", "Мустафа", ["Mostafa"], "m"),
    ("Dmitry", None, "Дмитрий", ["Dmitri", "Dmytro"], "m"), ("Sergei", None, "Сергей", ["Sergey", "Serhiy"], "m"),
    ("Chinedu", None, None, [], "m"), ("Emeka", None, None, [], "m"), ("Tuan", None, None, [], "m"),
    ("Dawit", None, None, ["Dawid"], "m"), ("Ermias", None, None, [], "m"), ("Arben", None, None, [], "m"),
]
FAMILY: list[tuple[str, str | None, str | None, list[str]]] = [
    ("Bakri", "بكري", "Бакри", ["Bakry"]), ("Haddad", "حداد", "Хаддад", ["Hadad"]),
    ("Mansour", "منصور", "Мансур", ["Mansur"]), ("Saleh", "صالح", "Салех", ["Salih"]),
    ("Osman", "عثمان", "Осман", ["Othman", "Usman"]), ("Abdi", "عبدي", "Абди", []),
    ("Hussein", "حسين", "Хусейн", ["Husain", "Hussain"]), ("Khalil", "خليل", "Халиль", ["Kalil"]),
    ("Nasser", "ناصر", "Насер", ["Nasir"]), ("Suleiman", "سليمان", "Сулейман", ["Sulayman"]),
    ("Tesfaye", None, None, ["Tesfay"]), ("Haile", None, None, ["Hayle"]), ("Gebre", None, None, ["Gebray"]),
    ("Kidane", None, None, []), ("Okafor", None, None, []), ("Adeyemi", None, None, []), ("Eze", None, None, []),
    ("Nguyen", None, None, ["Nguyễn"]), ("Tran", None, None, ["Trần"]), ("Pham", None, None, ["Phạm"]),
    ("Ivanova", None, "Иванова", ["Ivanowa"]), ("Petrenko", None, "Петренко", []),
    ("Kovalenko", None, "Коваленко", ["Kowalenko"]), ("Shevchenko", None, "Шевченко", ["Schewtschenko"]),
    ("Kuznetsova", None, "Кузнецова", ["Kuznetzova"]), ("Popescu", None, None, []), ("Ionescu", None, None, []),
    ("Hoxha", None, None, ["Hodja"]), ("Berisha", None, None, []), ("Mohammed", "محمد", "Мухаммед", ["Mohamed"]),
]
NATIONS = ["ER", "ET", "SD", "SY", "IQ", "NG", "UA", "RU", "VN", "RO", "AL", "SO"]


def _zipf(count: int, rng: random.Random, s: float = 0.7) -> int:
    weights = [1 / (rank + 1) ** s for rank in range(count)]
    return rng.choices(range(count), weights=weights)[0]


@dataclass(frozen=True)
class Person:
    given: int
    family: tuple[int, ...]
    born: date
    sex: str
    nationality: str


def _person(rng: random.Random) -> Person:
    given = _zipf(len(GIVEN), rng)
    family = (_zipf(len(FAMILY), rng),) if rng.random() < 0.85 else (_zipf(len(FAMILY), rng), _zipf(len(FAMILY), rng))
    born = date(1975, 1, 1) + timedelta(days=rng.randrange(35 * 365))
    return Person(given, family, born, GIVEN[given][4], rng.choice(NATIONS))


def _as_written(person: Person) -> PersonIdentifiers:
    names = " ".join([GIVEN[person.given][0], *(FAMILY[f][0] for f in person.family)])
    return PersonIdentifiers(names=(names,), birth_date=person.born, sex=person.sex, nationality=person.nationality)


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double", "replace"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeioubdklmnrst") + word[i + 1:]


def _rewritten(person: Person, rng: random.Random) -> PersonIdentifiers:
    """The same person as another agency wrote them down (moderate corruption)."""
    entries: list[tuple[str, str | None, str | None, list[str]]] = [GIVEN[person.given][:4]]
    entries += [FAMILY[f] for f in person.family]
    script = rng.random()
    parts: list[str] = []
    for latin, arabic, cyrillic, variants in entries:
        word = latin
        if script < 0.15 and arabic:
            word = arabic
        elif script < 0.30 and cyrillic:
            word = cyrillic
        elif variants and rng.random() < 0.2:
            word = rng.choice(variants)
        parts.append(word)
    if rng.random() < 0.25:
        i = rng.randrange(len(parts))
        if parts[i].isascii():
            parts[i] = _typo(parts[i], rng)
    if rng.random() < 0.2:
        parts.reverse()
    born: date | None = person.born
    years: tuple[int, int] | None = None
    roll = rng.random()
    if roll < 0.05:
        age = TODAY.year - person.born.year
        low = max(0, age - rng.randrange(5))
        years, born = PersonIdentifiers.age_band_years(f"{low}-{low + 9}", TODAY), None
    elif roll < 0.15:
        try:
            born = rng.choice([person.born.replace(day=person.born.month) if person.born.day <= 12 else person.born,
                               person.born + timedelta(days=rng.choice([-1, 1])),
                               person.born.replace(month=(person.born.month % 12) + 1)])
        except ValueError:
            born = person.born + timedelta(days=1)
    return PersonIdentifiers(names=(" ".join(parts),), birth_date=born, birth_year_range=years,
                             sex=None if rng.random() < 0.05 else person.sex,
                             nationality=None if rng.random() < 0.15 else person.nationality)


def population(people: int, seed: int) -> tuple[list[PersonIdentifiers], list[PersonIdentifiers], dict[int, int]]:
    """Agency A's records, agency B's, and the truth: B index -> A index for the same person."""
    rng = random.Random(seed)
    persons = [_person(rng) for _ in range(people)]
    a = [_as_written(p) for p in persons]
    shared = set(rng.sample(range(people), people // 2))
    b: list[PersonIdentifiers] = []
    truth: dict[int, int] = {}
    for i in range(people):
        if i in shared:
            truth[len(b)] = i
            b.append(_rewritten(persons[i], rng))
        else:
            b.append(_rewritten(_person(rng), rng))  # someone else, perhaps with a common name
    order = list(range(len(b)))
    rng.shuffle(order)
    truth = {order.index(bi): ai for bi, ai in truth.items()}
    return a, [b[i] for i in order], truth


# ------------------------------------------------------------------------------ matching

_WEIGHT = {"name": SCHEMA.name_bigram, "skeleton": SCHEMA.skeleton_bigram, "skeleton_whole": SCHEMA.skeleton_whole,
           "year": SCHEMA.year, "month": SCHEMA.month, "day": SCHEMA.day, "day_month": SCHEMA.day_month,
           "cohort": SCHEMA.cohort,
           "sex": SCHEMA.sex, "nationality": SCHEMA.nationality}


def _weighted(person: PersonIdentifiers) -> dict[tuple[str, str], int]:
    return {(f, t): _WEIGHT[f] for f, values in tokens(person).items() for t in values}


def plaintext_scores(a: list[PersonIdentifiers], b: list[PersonIdentifiers]) -> list[tuple[int, float]]:
    """For each B record, its best A record by weighted token Dice in the clear (an inverted index)."""
    a_tokens = [_weighted(p) for p in a]
    totals = [sum(t.values()) for t in a_tokens]
    postings: dict[tuple[str, str], list[int]] = {}
    for i, toks in enumerate(a_tokens):
        for tok in toks:
            postings.setdefault(tok, []).append(i)
    best: list[tuple[int, float]] = []
    for person in b:
        toks = _weighted(person)
        shared: dict[int, int] = {}
        for tok, weight in toks.items():
            for i in postings.get(tok, ()):
                shared[i] = shared.get(i, 0) + weight
        total = sum(toks.values())
        scored = [(i, 2 * w / (total + totals[i])) for i, w in shared.items()]
        best.append(max(scored, key=lambda x: x[1]) if scored else (-1, 0.0))
    return best


def key_scores(a_keys: list[bitarray], b_keys: list[bitarray]) -> list[tuple[int, float]]:
    """For each B key, its best A key by Dice coefficient (anonlink, as the gateway computes it)."""
    best: list[tuple[int, float]] = [(-1, 0.0)] * len(b_keys)
    sims, (b_idx, a_idx) = dice_coefficient_accelerated([b_keys, a_keys], 0.5, 1)
    for s, bi, ai in zip(sims, b_idx, a_idx, strict=True):
        if s > best[bi][1]:
            best[bi] = (ai, s)
    return best


def exact_matches(a: list[PersonIdentifiers], b: list[PersonIdentifiers]) -> list[tuple[int, float]]:
    def norm(p: PersonIdentifiers) -> tuple[str, date | None]:
        return " ".join(part for n in p.names for part in latin_form(n)), p.birth_date

    index = {norm(p): i for i, p in enumerate(a)}
    return [(index.get(norm(p), -1), 1.0 if norm(p) in index else 0.0) for p in b]


def quality(best: list[tuple[int, float]], truth: dict[int, int], threshold: float) -> dict[str, float]:
    predicted = {bi: ai for bi, (ai, s) in enumerate(best) if ai >= 0 and s >= threshold}
    correct = sum(1 for bi, ai in predicted.items() if truth.get(bi) == ai)
    precision = correct / len(predicted) if predicted else 1.0
    recall = correct / len(truth) if truth else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "predicted": len(predicted),
            "correct": correct}


def best_threshold(best: list[tuple[int, float]], truth: dict[int, int]) -> float:
    """The threshold with the best F1 on this run (reported for the plaintext upper bound)."""
    candidates = sorted({round(s, 3) for _, s in best if s > 0})
    scored = []
    for t in candidates:
        q = quality(best, truth, t)
        f1 = 2 * q["precision"] * q["recall"] / (q["precision"] + q["recall"] or 1)
        scored.append((f1, t))
    return max(scored)[1] if scored else 1.0


# ------------------------------------------------------------------------------ query time

def _random_key(rng: random.Random) -> bytes:
    positions = rng.sample(range(KEY_BYTES * 8), KEY_BYTES * 4)  # balanced, like every real key
    bits = bitarray(KEY_BYTES * 8)
    bits.setall(0)
    for p in positions:
        bits[p] = 1
    return bits.tobytes()


def query_time(stored: int, repeats: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    template = [_random_key(rng) for _ in range(min(stored, 2000))]
    index = KeyIndex("bench")
    for seq in range(stored):
        clk = bytearray(template[seq % len(template)])
        clk[seq % KEY_BYTES], clk[(seq + 1) % KEY_BYTES] = clk[(seq + 1) % KEY_BYTES], clk[seq % KEY_BYTES]
        index.add(seq + 1, "agency", f"s{seq}", bytes(clk))
    probe = template[0]
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        index.search(probe, POSSIBLE)
        timings.append(time.perf_counter() - start)
    baseline_repeats = max(1, min(repeats, 3))
    public = []
    if stored <= 200_000:
        keys = [bitarray() for _ in range(stored)]
        for seq, k in enumerate(keys):
            k.frombytes(template[seq % len(template)])
        probe_bits = bitarray()
        probe_bits.frombytes(probe)
        for _ in range(baseline_repeats):
            start = time.perf_counter()
            dice_coefficient_accelerated([[probe_bits], keys], POSSIBLE, 200)
            public.append(time.perf_counter() - start)
    return {"stored": stored, "p50_ms": round(statistics.median(timings) * 1000, 2),
            "max_ms": round(max(timings) * 1000, 2),
            "anonlink_public_p50_ms": round(statistics.median(public) * 1000, 1) if public else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000, help="records at each of the two agencies")
    parser.add_argument("--stored", type=int, nargs="+", default=[10_000, 1_000_000], help="stored keys to query")
    parser.add_argument("--repeats", type=int, default=20, help="timed queries per size")
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()

    secret_a = LinkageSecret.generate("bench")
    secret_b = LinkageSecret.from_text(secret_a.to_text())  # the same secret, handed over out of band
    a, b, truth = population(args.people, args.seed)
    start = time.perf_counter()
    a_keys = [encode(p, secret_a).bits for p in a]
    b_keys = [encode(p, secret_b).bits for p in b]
    encode_ms = (time.perf_counter() - start) * 1000 / (len(a) + len(b))
    pprl = key_scores(a_keys, b_keys)
    clear = plaintext_scores(a, b)
    exact = exact_matches(a, b)
    clear_threshold = best_threshold(clear, truth)
    results = {
        "linkage_keys": quality(pprl, truth, POSSIBLE),
        "plaintext_tokens": quality(clear, truth, clear_threshold),
        "plaintext_exact": quality(exact, truth, 1.0),
    }
    agreement = sum(1 for (ka, ks), (ca, cs) in zip(pprl, clear, strict=True)
                    if (ks >= POSSIBLE) == (cs >= clear_threshold) and (ks < POSSIBLE or ka == ca)) / len(b)
    print(f"population: {args.people} records at agency A, {len(b)} at agency B, {len(truth)} the same people")
    print(f"{'matcher':<20}{'threshold':>10}{'precision':>11}{'recall':>8}{'predicted':>11}")
    for name, threshold in (("linkage_keys", POSSIBLE), ("plaintext_tokens", clear_threshold),
                            ("plaintext_exact", 1.0)):
        q = results[name]
        print(f"{name:<20}{threshold:>10.3f}{q['precision']:>11.4f}{q['recall']:>8.4f}{q['predicted']:>11}")
    print(f"linkage keys and plaintext tokens decide the same for {agreement:.1%} of B's records")
    print(f"encoding: {encode_ms:.3f} ms per person")
    timings = [query_time(n, args.repeats, args.seed) for n in args.stored]
    print(f"{'stored keys':>12}{'query p50 ms':>14}{'max ms':>9}{'anonlink public p50 ms':>24}")
    for t in timings:
        public = "—" if t["anonlink_public_p50_ms"] is None else f"{t['anonlink_public_p50_ms']:.1f}"
        print(f"{t['stored']:>12}{t['p50_ms']:>14.2f}{t['max_ms']:>9.2f}{public:>24}")
    print(json.dumps({
        "people": args.people, "same_people": len(truth), "threshold": POSSIBLE,
        "plaintext_threshold": clear_threshold, **{f"{k}_{m}": v[m] for k, v in results.items()
                                                  for m in ("precision", "recall")},
        "agreement_with_plaintext": round(agreement, 4), "encode_ms_per_person": round(encode_ms, 3),
        "query": {str(t["stored"]): t for t in timings}, "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
