"""Each benchmark runs, on tiny settings, and ends with one JSON line of its figures.

Nothing here times anything (figures are compared in the benchmarks themselves, never asserted
in tests); these tests only keep ``./dev bench`` working and its JSON line well-formed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run_bench(name: str, *args: str, timeout: float = 240) -> tuple[list[str], dict[str, Any]]:
    """Run bench/<name>.py; its printed lines and the figures of its last line."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{name}.py"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict)
    return lines, figures


def test_the_decision_benchmark_reports_both_engines_and_the_bytecode_vm_check() -> None:
    lines, figures = run_bench("decision", "--embedded", "200", "--rest", "20", "--scaling", "20")
    for case in ("embedded", "rest"):
        assert 0 < figures[case]["p50_ms"] <= figures[case]["p99_ms"]
    assert set(figures["consents"]) == {"10", "100", "1000"}
    vm = figures["bytecode_vm"]
    assert 0 <= vm["inputs_decided_differently"] <= vm["inputs_checked"]
    assert vm["inputs_checked"] >= 14  # the Rego test corpus and the benchmark's own inputs
    assert isinstance(vm["timed_input_decided_the_same"], bool)
    assert any(line.startswith("bytecode VM: decides differently") for line in lines)


def test_the_exchange_benchmark_reports_the_ratio_and_the_floor() -> None:
    _, figures = run_bench("exchange", "--seconds", "2", "--threads", "2")
    assert figures["exchange_requests_per_s"] > 0 and figures["bare_requests_per_s"] > 0
    assert figures["ratio_exchange_to_bare"] == pytest.approx(
        figures["exchange_requests_per_s"] / figures["bare_requests_per_s"], rel=0.02)
    # plan, preview approval, submit, delivery and acknowledgement are each audited
    assert figures["audit_appends_per_round"] == pytest.approx(5)
    for part in ("decision", "decision_with_input", "audited_write", "authenticate"):
        assert figures[f"floor_{part}_cpu_ms"] > 0
    assert figures["floor_decision_with_input_cpu_ms"] > figures["floor_decision_cpu_ms"]
    if figures["ratio_ceiling_by_cpu"] is not None:  # None only where /proc is missing
        assert 0 < figures["ratio_ceiling_by_cpu"] < figures["ratio_ceiling_with_free_input_reads"] < 1


def test_the_consent_benchmark_runs_on_small_sizes() -> None:
    _, figures = run_bench("consent", "--sizes", "200", "2000", "--lookups", "50")
    assert figures["sizes"] == [200, 2000]
    assert [row["records"] for row in figures["rows"]] == [200, 2000]
    assert all(row["hits_in_force"] > 0 and row["lookup_us_p50"] > 0 for row in figures["rows"])


def test_the_audit_benchmark_runs_on_small_sizes() -> None:
    _, figures = run_bench("audit", "--sizes", "300,1000", "--appends", "50", "--batch", "10",
                           "--proofs", "20", "--workers", "1")
    assert len(figures["sizes"]) == 2
    for size in figures["sizes"].values():
        assert size["append_us"] > 0 and size["inclusion_proof_ms"] > 0 and size["verify_entries_per_s"] > 0


def test_the_statistics_benchmark_runs_on_small_sizes() -> None:
    lines, figures = run_bench("disclosure", "--sizes", "300", "--refresh-cases", "30")
    tables = figures["sizes"]["300"]["tables"]
    assert len(tables) == 4
    for table in tables.values():
        assert table["release_ms"] > 0 and table["exact_ms"] > 0
        assert table["published"] + round(table["suppressed_share"] * table["cells"]) == table["cells"]
    # 30 subjects created and decided twice each, after two agency registrations
    assert figures["refresh"]["entries_read"] == 2 + 30 * 3 and figures["refresh"]["second_refresh_read"] == 0
    assert any(line.startswith("store refresh from the audit log") for line in lines)


def test_the_linkage_benchmark_reports_quality_against_plaintext_and_query_time() -> None:
    lines, figures = run_bench("linkage", "--people", "120", "--stored", "500", "2000", "--repeats", "3")
    for matcher in ("linkage_keys", "plaintext_tokens", "plaintext_exact"):
        assert 0 <= figures[f"{matcher}_precision"] <= 1 and 0 <= figures[f"{matcher}_recall"] <= 1
    assert figures["same_people"] == 60
    assert set(figures["query"]) == {"500", "2000"}
    assert figures["query"]["2000"]["p50_ms"] > 0
    assert any(line.startswith("linkage_keys") for line in lines)


def test_the_trust_benchmark_compares_witnessed_and_todays_exchange() -> None:
    lines, figures = run_bench("trust", "--referrals", "2", "--proofs", "2")
    assert figures["today_ms_per_referral"] > 0 and figures["witnessed_ms_per_referral"] > 0
    # plan, the caseworker's person-token exchange, preview approval, recipient key, submit
    assert figures["requests_per_referral_today"] == 5
    # every API call first checks the witnessed head (4 more; the token exchange does not), plus one
    # consistency proof per new head, plus the pinned recipient key's evidence (a signed revocation
    # would be proven there)
    assert figures["requests_per_referral_witnessed"] == 11
    assert figures["key_proof_signatures_checked"] == 3  # checkpoint key, one witness, the agency's binding
    assert any(line.startswith("referral, witnessed log") for line in lines)


def test_the_topology_benchmark_reports_one_and_two_replicas_through_the_proxy() -> None:
    lines, figures = run_bench("topology", "--referrals", "4", "--senders", "2", timeout=600)
    for phase in ("two_replicas", "one_replica"):
        assert figures[phase]["referrals"] + figures[phase]["errors"] == 4
        assert figures[phase]["referrals_per_s"] > 0
        assert {"caddy", "postgres", "gateway-1", "client"} <= set(figures[phase]["cpu_ms_per_referral"])
    assert figures["one_replica"]["cpu_ms_per_referral"]["gateway-2"] == 0
    assert any("CPU ms per referral" in line for line in lines)


def test_the_national_benchmark_verifies_what_it_loaded_and_reads_only_the_last_day_incrementally() -> None:
    lines, figures = run_bench("national", "--entries", "3000", "--subjects", "300", "--consents", "900",
                               "--baseline-entries", "1000", "--days", "30", "--queries", "5", "--proofs", "10",
                               "--appends", "5", "--single-pass-runs", "1", "--workers", "1", timeout=600)
    for name, entries in (("small", 1000), ("national", 3000)):
        case = figures["cases"][name]
        loaded = case["loaded"]
        assert (loaded["entries"], case["full_checkpoints"]) == (entries, loaded["checkpoints"])
        # The full verification accepted the loaded log; the incremental one read the last day only.
        assert 0 < case["incremental_entries"] == loaded["day_entries"] < entries
        # The tallied overview equals the single pass over every entry (the benchmark stops otherwise).
        assert sum(case["overview_counts"].values()) > 0
        for kind in ("append", "inclusion", "consistency", "person_month", "overview"):
            assert 0 < case[kind]["p50_ms"] <= case[kind]["p99_ms"]
    assert set(figures["targets"]) == {"proof_p99_ms_le_10", "console_p95_ms_le_300", "day_incremental_s_le_2"}
    assert any(line.startswith("incremental verification of the last day") for line in lines)
