"""The embedded engine: the policy bundle evaluated in process by regorus.

regorus ``Engine`` objects are pyo3 *unsendable*: using one from a thread other than the one
that created it raises ``PanicException``, and dropping one on another thread is an error
too (pyo3 then leaks it and reports an unraisable ``RuntimeError``). So each thread loads its
own engine (a few ms, once per thread and adapter) into a table that only that thread ever
touches: a module-level ``threading.local``, which outlives every adapter and is cleared by
each thread as it exits. Closing or discarding an adapter only marks it retired; each thread
drops its own engines of retired adapters the next time it evaluates, or when it exits.
This is the only module that imports ``regorus``.

Each decision passes regorus only the consent records the policy can read (:func:`relevant_input`):
converting a long consent history into regorus values would otherwise cost more than the
decision itself. ``tests/policy/test_engines.py`` and the conformance tests (real OPA gets the
whole input) check that this never changes a decision.
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import regorus

from gateway.policy.bundle import PolicyBundle
from gateway.policy.engine import PolicyResultError

__all__ = ["EmbeddedPolicyEngine", "to_plain"]

DECISION_RULE = "data.gateway.decision"
# What eval_rule_as_json answers for an undefined rule (a decision is never a string).
_UNDEFINED_JSON = json.dumps("<undefined>")

# The policy reads a consent record only when its purpose is the request's
# (policies/gateway/consent.rego: for_purpose) or one of these (purpose_in_force).
PURPOSES_ALWAYS_READ = frozenset({"filming", "forensic"})

# Per thread: {adapter token: regorus.Engine}. Never replaced, so never dropped elsewhere.
_THREAD_ENGINES = threading.local()
_TOKENS = itertools.count(1)
_RETIRED: set[int] = set()
_RETIRED_LOCK = threading.Lock()
_retired_generation = 0


def _retire(token: int) -> None:
    """Mark an adapter's engines for dropping; each thread drops its own (may run in any thread)."""
    global _retired_generation
    with _RETIRED_LOCK:
        _RETIRED.add(token)
        _retired_generation += 1


def _thread_table() -> dict[int, Any]:
    """This thread's engines, after dropping those of retired adapters (in this thread)."""
    table: dict[int, Any] | None = getattr(_THREAD_ENGINES, "table", None)
    if table is None:
        table = {}
        _THREAD_ENGINES.table = table
        _THREAD_ENGINES.generation = -1
    if _THREAD_ENGINES.generation != _retired_generation:
        with _RETIRED_LOCK:
            generation = _retired_generation
            stale = [token for token in table if token in _RETIRED]
        for token in stale:
            del table[token]
        _THREAD_ENGINES.generation = generation
    return table


class EmbeddedPolicyEngine:
    """A ``PolicyEngine`` running the bundle in process (the default)."""

    name = "embedded"

    def __init__(self, bundle: PolicyBundle) -> None:
        self._bundle = bundle
        self._data_json = json.dumps(bundle.data())
        self._token = next(_TOKENS)
        self._closed = False
        self.version = bundle.version
        weakref.finalize(self, _retire, self._token)

    def _engine(self) -> Any:
        if self._closed:
            raise RuntimeError("policy engine is closed")
        table = _thread_table()
        engine = table.get(self._token)
        if engine is None:
            engine = self._load()
            table[self._token] = engine
        return engine

    def _load(self, *, tests: bool = False) -> Any:
        engine = regorus.Engine()
        for module in self._bundle.modules:
            engine.add_policy(module.path, module.source)
        if tests:
            for module in self._bundle.test_modules:
                engine.add_policy(module.path, module.source)
        engine.add_data_json(self._data_json)
        return engine

    def evaluate(self, input_doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Evaluate ``data.gateway.decision``; None when undefined."""
        engine = self._engine()
        engine.set_input_json(json.dumps(relevant_input(input_doc)))
        # JSON out is cheaper than Python objects; a decision holds no sets (sets would come
        # back as sorted arrays, as from OPA).
        answer = engine.eval_rule_as_json(DECISION_RULE)
        if answer == _UNDEFINED_JSON:
            return None
        result = json.loads(answer)
        if not isinstance(result, dict):
            raise PolicyResultError("decision is not an object")
        return result

    def evaluate_rule(self, rule: str, input_doc: Mapping[str, Any] | None = None, *, tests: bool = False) -> Any:
        """Evaluate any rule (tests and debugging) on a fresh engine; None when undefined."""
        engine = self._load(tests=tests)
        if input_doc is not None:
            engine.set_input(dict(input_doc))
        return to_plain(engine.eval_rule(rule))

    def coverage(self, input_doc: Mapping[str, Any]) -> str:
        """A human-readable coverage report of one decision (for debugging, never logged)."""
        engine = self._load()
        engine.set_enable_coverage(True)
        engine.set_input(dict(input_doc))
        engine.eval_rule(DECISION_RULE)
        return str(engine.get_coverage_report_pretty())

    def ready(self) -> bool:
        """True when this thread's engine is loaded and answers with the bundle version."""
        try:
            engine = self._engine()
            return bool(engine.eval_rule("data.gateway.policy_version") == self.version)
        except Exception:
            return False

    def close(self) -> None:
        """Stop answering; every thread drops its engine of this adapter on its next use or exit."""
        self._closed = True
        _retire(self._token)
        _thread_table()


def relevant_input(input_doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The input without the consent records the policy never reads (see PURPOSES_ALWAYS_READ).

    Only records that are objects with a string purpose the policy does not read are dropped;
    anything else is passed on as it is.
    """
    consents = input_doc.get("consents")
    if not isinstance(consents, list):
        return input_doc
    purpose = input_doc.get("purpose")
    read = {purpose if isinstance(purpose, str) else "", *PURPOSES_ALWAYS_READ}
    kept = [c for c in consents if not _unread(c, read)]
    if len(kept) == len(consents):
        return input_doc
    return {**input_doc, "consents": kept}


def _unread(consent: Any, read: set[str]) -> bool:
    return isinstance(consent, dict) and isinstance(consent.get("purpose"), str) and consent["purpose"] not in read


def to_plain(value: Any) -> Any:
    """Rego sets come back as Python sets: make every set a sorted list, recursively."""
    if isinstance(value, (set, frozenset)):
        items = [to_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed types: any total order will do
            return sorted(items, key=_sort_key)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
