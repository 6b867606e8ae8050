"""Pre-indexed views of the policy data documents, shipped to every engine as ``data.gateway_index``.

regorus evaluates every rule afresh for each decision, so a rule that only reshapes the data
documents (say, "the classes flagged location") would be recomputed on every request, field by
field. This module computes those shapes once, when the bundle is loaded. Each entry is a pure
restatement of ``policies/data/*.json``; nothing here decides anything. ``model_test.rego``
recomputes every entry from ``data.gateway_data`` in Rego and checks that it is equal, on both
engines, and the index is part of the bundle version (a change in how it is derived is a new
policy version).

Sets are objects whose keys are the members and whose values are ``true`` (JSON has no sets):

* ``class_sets.<flag>``: the classes whose ``<flag>`` is ``true`` (``identifying``, ``health``,
  ``location``, ``risk_summary_excluded``), ``non_identifying`` (``identifying`` is ``false``) and
  ``level_4`` (``level >= 4``);
* ``field_sets.<flag>``: the fields whose ``<flag>`` is ``true`` (``risk_summary``,
  ``criminal_justice_only``, ``therapy_confined``, ``court_disclosable``, ``forensic``);
* ``profiles.<purpose>.<kind>``: the profile as sets: ``core`` (its ``classes``), ``extended``
  (``classes`` and ``full_only``) and ``outside_limits``, the catalogue fields of a class that
  ``field_limits`` narrows which are not among that class's listed fields;
* ``scopes.<scope>``: ``reach`` is ``"extended"`` when ``extended_profile`` is ``true`` and
  ``"core"`` when it is ``false``; ``tier`` is ``"all"`` when ``strips_identifying`` is ``false``
  and ``"non_identifying"`` when it is ``true`` (a key is absent when its flag is not a boolean).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CLASS_FLAGS", "FIELD_FLAGS", "derive_index"]

CLASS_FLAGS = ("identifying", "health", "location", "risk_summary_excluded")
FIELD_FLAGS = ("risk_summary", "criminal_justice_only", "therapy_confined", "court_disclosable", "forensic")


def _members(names: Iterable[str]) -> dict[str, bool]:
    return {name: True for name in sorted(names)}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _document(documents: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``documents[name][name]``, or {} for a bundle without that document (the policy then denies)."""
    content: Mapping[str, Any] = documents.get(name, {}).get(name, {})
    return content


def derive_index(documents: Mapping[str, Any]) -> dict[str, Any]:
    """The index of the data documents (``PolicyBundle.documents``)."""
    classes: Mapping[str, Any] = _document(documents, "classes")
    fields: Mapping[str, Any] = _document(documents, "fields")
    profiles: Mapping[str, Any] = _document(documents, "profiles")
    scopes: Mapping[str, Any] = _document(documents, "scopes")

    class_sets = {flag: _members(k for k, spec in classes.items() if spec.get(flag) is True) for flag in CLASS_FLAGS}
    class_sets["non_identifying"] = _members(k for k, spec in classes.items() if spec.get("identifying") is False)
    class_sets["level_4"] = _members(
        k for k, spec in classes.items() if _is_number(spec.get("level")) and spec["level"] >= 4
    )
    field_sets = {flag: _members(f for f, spec in fields.items() if spec.get(flag) is True) for flag in FIELD_FLAGS}

    indexed_profiles: dict[str, dict[str, Any]] = {}
    for purpose, by_kind in profiles.items():
        indexed_profiles[purpose] = {}
        for kind, profile in by_kind.items():
            limits = profile["field_limits"]
            for cls, names in limits.items():
                if not isinstance(names, list):
                    raise ValueError(f"profiles.{purpose}.{kind}.field_limits.{cls} is not a list")
            indexed_profiles[purpose][kind] = {
                "core": _members(profile["classes"]),
                "extended": _members([*profile["classes"], *profile["full_only"]]),
                "outside_limits": _members(
                    f for f, spec in fields.items() if spec.get("class") in limits and f not in limits[spec["class"]]
                ),
            }
    indexed_scopes: dict[str, dict[str, str]] = {}
    for scope, spec in scopes.items():
        entry: dict[str, str] = {}
        if isinstance(spec.get("extended_profile"), bool):
            entry["reach"] = "extended" if spec["extended_profile"] else "core"
        if isinstance(spec.get("strips_identifying"), bool):
            entry["tier"] = "non_identifying" if spec["strips_identifying"] else "all"
        indexed_scopes[scope] = entry
    return {
        "class_sets": class_sets,
        "field_sets": field_sets,
        "profiles": indexed_profiles,
        "scopes": indexed_scopes,
    }
