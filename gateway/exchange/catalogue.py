"""Field names -> data classes, from the policy bundle's field catalogue (``policies/data/fields.json``).

Used to write data classes (never values) into audit entries.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path


@cache
def field_classes(policy_dir: Path) -> dict[str, str]:
    document = json.loads((policy_dir / "data" / "fields.json").read_text(encoding="utf-8"))
    return {name: str(spec["class"]) for name, spec in document["fields"].items()}


def classes_of(policy_dir: Path, fields: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The sorted data classes of ``fields``; unknown names count as ``unknown``."""
    catalogue = field_classes(policy_dir)
    return sorted({catalogue.get(f, "unknown") for f in fields})


@cache
def risk_summary_fields(policy_dir: Path) -> frozenset[str]:
    """Fields that make up the risk summary (read once per bundle directory, like :func:`field_classes`)."""
    document = json.loads((policy_dir / "data" / "fields.json").read_text(encoding="utf-8"))
    return frozenset(name for name, spec in document["fields"].items() if spec.get("risk_summary"))
