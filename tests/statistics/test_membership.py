"""An empirical check of the differential-privacy guarantee (DP auditing), on the release's own mechanism.

Two data sets differ in one person: ``without`` has 11 people in the target cell, ``with_her``
12. The attacker releases the table many times from each and guesses "she is in" when the
published count of the cell is at least 12. Epsilon-DP promises, for every such event S,
P[S | with her] <= exp(epsilon) * P[S | without her]; so

    empirical epsilon = ln(lower bound of P[S | with her] / upper bound of P[S | without her])

must stay at or below the stated epsilon. The bounds are Hoeffding bounds at confidence
1 - 1e-6 each, so a correct mechanism fails this test with probability below 2e-6 (OpenDP draws
its noise from the operating system's CSPRNG and takes no seed). The same attack against a
mechanism whose noise is too small for its claimed epsilon (a negative control) measures above
the claim: the test can tell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from gateway.statistics.release import ReleasePolicy, TableRequest, mechanism, publish

CONFIDENCE_DELTA = 1e-6
POLICY = ReleasePolicy(k=11, budget_per_year=5.0)
TABLE = {"source": "persons", "dimensions": ["child"], "period_from": "2026-01", "period_to": "2026-12"}
TARGET = ("2026", "child")


def _data(target_count: int) -> list[int]:
    """The table's true counts, in its cell order: (2026, child), (2026, adult), (2026, unknown)."""
    return [target_count, 30, 0]


def _rate(trial: Callable[[], bool], n: int) -> float:
    return sum(trial() for _ in range(n)) / n


def _empirical_epsilon(hits_with: float, hits_without: float, n: int) -> float:
    margin = math.sqrt(math.log(1 / CONFIDENCE_DELTA) / (2 * n))  # Hoeffding
    lower, upper = hits_with - margin, min(hits_without + margin, 1.0)
    return math.log(lower / upper) if lower > 0 else 0.0


def _published_target(releases: Sequence[list[list[object]]]) -> list[int]:
    out = []
    for rows in releases:
        value = next(row[-1] for row in rows if tuple(row[:-1]) == TARGET)
        out.append(0 if value is None else int(value))  # type: ignore[call-overload]
    return out


def _audit(claimed_epsilon: float, per_release_epsilon: float, releases: int, n: int, threshold: int) -> float:
    request = TableRequest.parse({**TABLE, "epsilon": per_release_epsilon}, POLICY)
    measurement, _scale = mechanism(request, POLICY)
    cells = request.cells()
    assert cells[0] == TARGET

    def attack(data: list[int]) -> bool:
        published = [publish(cells, measurement(data), POLICY.k)[0] for _ in range(releases)]
        return sum(_published_target(published)) >= threshold

    with_her, without = _data(12), _data(11)
    estimate = _empirical_epsilon(_rate(lambda: attack(with_her), n), _rate(lambda: attack(without), n), n)
    print(f"claimed epsilon {claimed_epsilon}, {releases} release(s): empirical lower bound {estimate:.3f}")
    return estimate


@pytest.mark.rule("S31")
def test_one_release_does_not_reveal_her_beyond_epsilon() -> None:
    estimate = _audit(claimed_epsilon=1.0, per_release_epsilon=1.0, releases=1, n=6000, threshold=12)
    assert estimate <= 1.0
    # The audit is tight, not vacuous: the attack gets close to what epsilon allows.
    assert estimate > 0.5


def test_repeated_releases_stay_within_the_total_they_spent() -> None:
    # Two releases of 0.5 each (what the ledger charges: 1.0), added up by the attacker.
    estimate = _audit(claimed_epsilon=1.0, per_release_epsilon=0.5, releases=2, n=3000, threshold=24)
    assert estimate <= 1.0


def test_the_audit_catches_a_mechanism_with_too_little_noise() -> None:
    # Negative control: noise calibrated for epsilon = 4 but claimed as 1. The audit must notice.
    estimate = _audit(claimed_epsilon=1.0, per_release_epsilon=4.0, releases=1, n=2000, threshold=12)
    assert estimate > 1.0
