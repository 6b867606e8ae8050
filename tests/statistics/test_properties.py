"""Properties of the request parser and of suppression, for any input (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.statistics.dimensions import DIMENSIONS
from gateway.statistics.release import ReleasePolicy, StatisticsRefused, TableRequest, publish

POLICY = ReleasePolicy()
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=4), max_leaves=8)
months = st.from_regex(r"\A20[0-9]{2}-(0[1-9]|1[0-2])\Z") | st.text(max_size=8)
requests = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["persons", "events", "cases", ""]) | json_values,
    "dimensions": st.lists(st.sampled_from([*DIMENSIONS, "name", "subject_id"]), max_size=5) | json_values,
    "granularity": st.sampled_from(["month", "quarter", "year", "whole", "day"]) | json_values,
    "period_from": months, "period_to": months,
    "epsilon": st.floats(allow_nan=True, allow_infinity=True) | json_values,
})


@settings(max_examples=300, deadline=None)
@given(requests)
def test_a_request_is_either_a_valid_table_or_a_precise_refusal(raw: dict[str, Any]) -> None:
    try:
        table = TableRequest.parse(raw, POLICY)
    except StatisticsRefused as exc:
        assert exc.reason and exc.status in (409, 422)
        return
    assert POLICY.min_epsilon <= table.epsilon <= POLICY.budget_per_year
    assert 1 <= len(table.dimensions) <= 4 and table.cell_count <= POLICY.max_cells
    assert all(table.source in DIMENSIONS[d].sources for d in table.dimensions)
    assert table.period_from <= table.period_to and table.years


@given(st.lists(st.integers(min_value=-10**6, max_value=10**6), min_size=1, max_size=50),
       st.integers(min_value=1, max_value=100))
def test_no_published_cell_is_ever_below_k(noisy: list[int], k: int) -> None:
    cells = [(str(i),) for i in range(len(noisy))]
    rows, suppressed = publish(cells, noisy, k)
    assert all(row[-1] is None or row[-1] >= k for row in rows)
    assert [row[:-1] for row in rows if row[-1] is None] == suppressed
    assert [row[-1] for row in rows if row[-1] is not None] == [v for v in noisy if v >= k]
