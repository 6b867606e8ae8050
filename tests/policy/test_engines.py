"""The embedded engine (thread-bound regorus), the factory, and the bundle loader."""

from __future__ import annotations

import ast
import gc
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import regorus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy import DEFAULT_POLICY_DIR, PolicyBundle, build_engine, decide
from gateway.policy._regorus import PURPOSES_ALWAYS_READ, EmbeddedPolicyEngine, relevant_input, to_plain
from tests.policy import inputs as i
from tests.policy.strategies import PURPOSES, consents, decision_inputs

REPO = Path(__file__).resolve().parents[2]


def test_the_embedded_engine_is_the_default_kind(bundle: PolicyBundle) -> None:
    engine = build_engine("embedded", bundle=bundle)
    assert engine.name == "embedded"
    assert engine.version == bundle.version
    assert engine.ready()
    engine.close()
    assert not engine.ready()
    assert decide(engine, i.ngo_referral()).reasons == ("policy_engine_error",)


def test_factory_rejects_an_unknown_kind_or_a_missing_url(bundle: PolicyBundle) -> None:
    with pytest.raises(ValueError):
        build_engine("opa", bundle=bundle)
    with pytest.raises(ValueError):
        build_engine("wasm", bundle=bundle)  # type: ignore[arg-type]


def test_regorus_engines_are_thread_bound_and_decide_catches_the_panic(bundle: PolicyBundle) -> None:
    """Why the adapter keeps one engine per thread: a foreign thread gets a PanicException."""
    box = {"shared": regorus.Engine()}
    box["shared"].add_policy("p.rego", "package p\n\nx := 1\n")
    caught: list[BaseException] = []

    class Shared:
        name, version = "shared", bundle.version

        def evaluate(self, _: Any) -> Any:
            return box["shared"].eval_rule("data.p.x")

        def ready(self) -> bool:
            return True

        def close(self) -> None:
            return None

    def other_thread() -> None:
        try:
            box["shared"].eval_rule("data.p.x")
        except BaseException as exc:  # PanicException is a BaseException
            caught.append(exc)
        caught.append(decide(Shared(), i.ngo_referral()))  # type: ignore[arg-type]

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    try:
        assert not isinstance(caught[0], Exception)
        assert caught[1].reasons == ("policy_engine_error",)  # type: ignore[attr-defined]
    finally:
        # The panic's traceback ties `shared` into a reference cycle; collect it here, on the
        # thread that created it, not whenever the garbage collector happens to run elsewhere.
        caught.clear()
        box.clear()
        gc.collect()


def test_one_embedded_engine_serves_many_threads(embedded: EmbeddedPolicyEngine) -> None:
    requests = [i.ngo_referral(), i.ngo_referral(consents=[])] * 20
    expected = [decide(embedded, r) for r in requests]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda r: decide(embedded, r), requests))
    assert got == expected
    assert {d.allow for d in got} == {True, False}


def test_discarding_an_engine_used_by_live_threads_drops_nothing_on_the_wrong_thread(
    bundle: PolicyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """regorus engines must be dropped by the thread that made them, even when the adapter is
    closed or garbage-collected elsewhere (e.g. a test's context while the web threadpool lives)."""
    import sys

    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            engine = EmbeddedPolicyEngine(bundle)
            assert all(pool.map(lambda _, e=engine: decide(e, i.ngo_referral()).allow, range(12)))
            del engine
            gc.collect()
        closed = EmbeddedPolicyEngine(bundle)
        assert all(pool.map(lambda _: decide(closed, i.ngo_referral()).allow, range(12)))
        closed.close()
        gc.collect()
        # the pool threads drop their engines of retired adapters on their next evaluation
        assert all(pool.map(lambda _: decide(EmbeddedPolicyEngine(bundle), i.ngo_referral()).allow, range(8)))
    gc.collect()
    assert unraisable == []


def test_coverage_report_for_debugging(embedded: EmbeddedPolicyEngine) -> None:
    report = embedded.coverage(i.ngo_referral())
    assert "decision.rego" in report


def test_to_plain_turns_sets_into_sorted_lists() -> None:
    assert to_plain({"a": {"b", "a"}, "n": [{2, 1}], "m": {("x",), 1}}) == {
        "a": ["a", "b"],
        "n": [[1, 2]],
        "m": [1, ["x"]],
    }


def test_bundle_version_names_the_content(tmp_path: Path, bundle: PolicyBundle) -> None:
    import shutil

    copy = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, copy)
    assert PolicyBundle.load(copy).version == bundle.version
    assert bundle.version.startswith("sha256:") and len(bundle.version) == len("sha256:") + 16
    (copy / "gateway" / "decision_test.rego").write_text("package gateway.decision_test\n", encoding="utf-8")
    assert PolicyBundle.load(copy).version == bundle.version, "tests are not part of the version"
    data = copy / "data" / "scopes.json"
    data.write_text(data.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert PolicyBundle.load(copy).version != bundle.version


def test_bundle_data_carries_the_version_and_the_documents(bundle: PolicyBundle) -> None:
    data = bundle.data()
    assert data["gateway_meta"] == {"version": bundle.version}
    assert set(data["gateway_data"]) == set(bundle.documents)
    assert {m.path for m in bundle.modules}.isdisjoint({m.path for m in bundle.tests_modules()})
    assert all(not m.path.endswith("_test.rego") for m in bundle.modules)
    assert json.loads(json.dumps(data)) == data


def test_bundle_load_fails_on_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PolicyBundle.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError):
        PolicyBundle.load(tmp_path / "empty")


def test_a_bundle_without_a_version_never_decides(bundle: PolicyBundle) -> None:
    engine = EmbeddedPolicyEngine(bundle)
    versioned = engine.evaluate_rule("data.gateway.decision", i.ngo_referral())
    assert versioned["allow"] is True
    bare = regorus.Engine()
    for module in bundle.modules:
        bare.add_policy(module.path, module.source)
    bare.add_data({"gateway_data": bundle.data()["gateway_data"]})
    bare.set_input(i.ngo_referral())
    assert to_plain(bare.eval_rule("data.gateway.decision"))["reasons"] == ["policy_undefined"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_libraries_are_imported_in_one_module_each_and_no_web_framework() -> None:
    package = REPO / "gateway" / "policy"
    by_module = {p.name: _imports(p) for p in package.glob("*.py")}
    assert [name for name, imports in by_module.items() if "regorus" in imports] == ["_regorus.py"]
    assert [name for name, imports in by_module.items() if "opa_client" in imports] == ["_remote.py"]
    assert all(not ({"fastapi", "starlette"} & imports) for imports in by_module.values())


def test_package_exports_are_importable() -> None:
    import gateway.policy as policy

    for name in policy.__all__:
        assert hasattr(policy, name), name


def test_explain_gives_a_text_for_every_reason(embedded: EmbeddedPolicyEngine, bundle: PolicyBundle) -> None:
    from gateway.policy.explain import explain

    decision = decide(embedded, i.ngo_referral(consents=[]))
    lines = explain(decision, bundle)
    assert [line.code for line in lines[: len(decision.reasons)]] == list(decision.reasons)
    assert all(line.text and line.rule != "unknown" for line in lines)
    assert {line.field for line in lines[len(decision.reasons):]} == set(i.REFERRAL_FIELDS)


# ---------------------------------------------------------------- the consents the adapter passes on


def test_the_adapter_passes_on_only_the_consents_the_policy_reads() -> None:
    kept = [
        i.consent("c-1", "protection_support", ["a-ngo"], ["D1"]),
        i.consent("c-2", "forensic", ["a-ngo"], ["D10"]),
        i.consent("c-3", "filming", ["a-ngo"], ["D17"]),
        "not a consent",
        {"id": "c-4", "purpose": 7},
        {"id": "c-5"},
    ]
    dropped = [i.consent("c-6", "healthcare", ["a-ngo"], ["D6"]), i.consent("c-7", "shelter", ["a-ngo"], ["D4"])]
    doc = i.ngo_referral(consents=[dropped[0], *kept, dropped[1]])
    assert relevant_input(doc)["consents"] == kept
    assert relevant_input(i.ngo_referral(consents=kept)) == i.ngo_referral(consents=kept)
    for odd in ({**doc, "consents": {"c-1": True}}, {**doc, "consents": tuple(dropped)}, {"consents": dropped}):
        assert relevant_input(odd) is odd or relevant_input(odd)["consents"] == []
    assert relevant_input({"purpose": ["protection_support"], "consents": dropped})["consents"] == []
    assert relevant_input({"purpose": 7, "consents": [{"purpose": ""}]})["consents"] == [{"purpose": ""}]


def test_the_purposes_always_read_are_those_the_policy_asks_about(bundle: PolicyBundle) -> None:
    """consent.rego's purpose_in_force(p) is the only other reader of consent records."""
    import re

    asked = {
        purpose
        for module in bundle.modules
        for purpose in re.findall(r'purpose_in_force\("([a-z_]+)"\)', module.source)
    }
    assert asked == set(PURPOSES_ALWAYS_READ)
    consent_module = next(m.source for m in bundle.modules if m.path == "gateway/consent.rego")
    readers = [m.path for m in bundle.modules if "input.consents" in m.source or "model.consents" in m.source]
    assert sorted(readers) == ["gateway/consent.rego", "gateway/model.rego"]
    assert consent_module.count("data.gateway.model.consents") == 1  # purpose_in_force
    assert consent_module.count("input.consents") == 1  # for_purpose, which compares with the request's purpose


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    doc=decision_inputs(),
    extra=st.lists(st.tuples(consents(), st.sampled_from([*PURPOSES, "filming", "forensic"])), max_size=6),
)
def test_dropping_unread_consents_never_changes_a_decision(
    doc: dict[str, Any], extra: list[tuple[dict[str, Any], str]], embedded: EmbeddedPolicyEngine
) -> None:
    """The adapter's decision equals regorus's on the whole input (real OPA gets it whole too)."""
    doc = {**doc, "consents": [*doc["consents"], *({**c, "purpose": p} for c, p in extra)]}
    whole = embedded.evaluate_rule("data.gateway.decision", doc)
    assert embedded.evaluate(doc) == whole


def test_an_undefined_decision_is_a_deny_with_policy_undefined(tmp_path: Path) -> None:
    (tmp_path / "gateway").mkdir()
    policy = tmp_path / "gateway" / "decision.rego"
    policy.write_text("package gateway\n\ndecision := 1 if input.never\n", encoding="utf-8")
    engine = EmbeddedPolicyEngine(PolicyBundle.load(tmp_path))
    assert engine.evaluate(i.ngo_referral()) is None
    assert decide(engine, i.ngo_referral()).reasons == ("policy_undefined",)
    engine.close()
