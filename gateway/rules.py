"""Traceability: rule catalogue -> policy rules -> tests.

``policies/rules.yaml`` lists every rule id of the seed digest (CR, L, CH, S), the digest 8.2
controls (SEC) and tensions (T), with its status and, when implemented, the policy rules
(``file:rule``) that implement it. Tests name the ids they prove with
``@pytest.mark.rule("CR1", "S01")`` (found by parsing ``tests/`` with ``ast``) or, in Rego,
with a ``# rules: CR1 S01`` comment right above a ``test_*`` rule. ``check`` reports what
does not add up; ``main_check`` is the ``gateway rules`` exit code.

Pure functions over files: nothing here imports the code under test.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped, unused-ignore]  # types-PyYAML is not in the venv yet

__all__ = [
    "Report",
    "RuleEntry",
    "RuleRow",
    "TestRef",
    "build_report",
    "check",
    "is_catalogued_family",
    "is_external_id",
    "load_catalogue",
    "main_check",
    "render_table",
    "scan_python_tests",
    "scan_rego_tests",
]

CATALOGUE = Path("policies") / "rules.yaml"
TESTS_DIR = Path("tests")
POLICIES_DIR = Path("policies")

Status = Literal["implemented", "out_of_scope", "planned"]
_STATUSES = ("implemented", "out_of_scope", "planned")
"""implemented: enforced (``policy`` names where) and tested; out_of_scope: consciously set aside,
with a ``reason`` a DPO can read; planned: undecided, which ``check`` reports as a problem."""

# Where a rule lives, by the top of the path of its first ``policy`` reference.
_HOMES = {"policies": "policy", "consent": "consent validation", "gateway": "gateway", "connectors": "SDK"}

# Id families the catalogue owns: every id of these shapes must be in it.
_CATALOGUED = re.compile(r"^(CR\d+|L\d+[a-z]?|CH\d+[a-z]?|S\d{2}|SEC\d+|T\d+)$")
# References to other catalogues, accepted as they are: OWASP ASVS and API Top 10, NIST SP
# 800-63B (and its sections), the research anchors A1-D9, and digest sections such as 7.3.
_EXTERNAL = re.compile(r"^(ASVS-\d+(\.\d+)*|API\d+|NIST-800-63B(-\d+(\.\d+)*)?|[A-D]\d+|\d+(\.\d+)+)$")
_REGO_RULES_COMMENT = re.compile(r"^\s*#\s*rules:\s*(.+?)\s*$")
_REGO_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_REGO_TEST = re.compile(r"^(test_\w+)\s+if\b")


@dataclass(frozen=True)
class RuleEntry:
    """One catalogue entry."""

    rule_id: str
    summary: str
    seed: str
    status: Status
    policy: tuple[str, ...] = ()
    note: str | None = None
    reason: str | None = None
    """Why an out_of_scope rule is set aside."""

    @property
    def lives_in(self) -> str:
        """Where the rule is enforced: the policy, consent validation, a gateway module, the SDK."""
        if not self.policy:
            return "-"
        path = self.policy[0].partition(":")[0]
        top, _, rest = path.partition("/")
        if top == "gateway" and "/" in rest:
            return f"gateway/{rest.split('/')[0]}"
        return _HOMES.get(top, top)


@dataclass(frozen=True)
class TestRef:
    """A test that names rule ids: a pytest node id, or ``<rego file>::<package>.<rule>``."""

    node: str
    kind: Literal["pytest", "rego"]
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RuleRow:
    """A catalogue entry joined with the tests that name it."""

    entry: RuleEntry
    pytest_tests: tuple[str, ...]
    rego_tests: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """The whole traceability picture of a repository."""

    rows: tuple[RuleRow, ...]
    tests: tuple[TestRef, ...]
    missing_policy_refs: tuple[str, ...] = field(default=())
    """``file:rule`` references of implemented entries that do not resolve."""


def is_catalogued_family(rule_id: str) -> bool:
    """Whether the id has the shape of a digest id (it must then be in the catalogue)."""
    return bool(_CATALOGUED.match(rule_id))


def is_external_id(rule_id: str) -> bool:
    """Whether the id belongs to an external catalogue (ASVS, API Top 10, research anchors)."""
    return bool(_EXTERNAL.match(rule_id))


def load_catalogue(path: Path) -> dict[str, RuleEntry]:
    """Parse ``rules.yaml``; raises ValueError on a malformed entry."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), Mapping):
        raise ValueError(f"{path}: expected a mapping with a 'rules' mapping")
    entries: dict[str, RuleEntry] = {}
    for rule_id, raw in document["rules"].items():
        entries[str(rule_id)] = _entry(str(rule_id), raw)
    return entries


def _entry(rule_id: str, raw: Any) -> RuleEntry:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{rule_id}: entry is not a mapping")
    status = raw.get("status")
    if status not in _STATUSES:
        raise ValueError(f"{rule_id}: status must be one of {_STATUSES}")
    for key in ("summary", "seed"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ValueError(f"{rule_id}: {key} is missing")
    policy = raw.get("policy") or []
    if not isinstance(policy, list) or not all(isinstance(p, str) for p in policy):
        raise ValueError(f"{rule_id}: policy must be a list of 'file:rule' strings")
    note = raw.get("note")
    reason = raw.get("reason")
    if status == "out_of_scope" and (not isinstance(reason, str) or len(reason.strip()) < 20):
        raise ValueError(f"{rule_id}: out_of_scope needs a reason (a sentence a DPO can check)")
    return RuleEntry(
        rule_id=rule_id,
        summary=raw["summary"].strip(),
        seed=raw["seed"].strip(),
        status=status,
        policy=tuple(policy),
        note=note if isinstance(note, str) else None,
        reason=reason.strip() if isinstance(reason, str) else None,
    )


# ---------------------------------------------------------------- pytest markers


def scan_python_tests(tests_dir: Path, repo_root: Path | None = None) -> list[TestRef]:
    """Every test function naming ids with ``pytest.mark.rule(...)``: on itself, on its class,
    or through a module-level ``pytestmark``."""
    root = repo_root or tests_dir.parent
    refs: list[TestRef] = []
    for path in sorted(tests_dir.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError:
            continue
        rel = path.relative_to(root).as_posix()
        module_ids = _module_mark_ids(tree)
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                class_ids = _decorator_ids(node.decorator_list)
                for item in node.body:
                    if _is_test_function(item):
                        assert isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                        ids = (*module_ids, *class_ids, *_decorator_ids(item.decorator_list))
                        if ids:
                            refs.append(TestRef(f"{rel}::{node.name}::{item.name}", "pytest", _dedupe(ids)))
            elif _is_test_function(node):
                assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                ids = (*module_ids, *_decorator_ids(node.decorator_list))
                if ids:
                    refs.append(TestRef(f"{rel}::{node.name}", "pytest", _dedupe(ids)))
    return refs


def _is_test_function(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")


def _module_mark_ids(tree: ast.Module) -> tuple[str, ...]:
    ids: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            ids.extend(_decorator_ids(values))
    return tuple(ids)


def _decorator_ids(decorators: Iterable[ast.expr]) -> tuple[str, ...]:
    ids: list[str] = []
    for decorator in decorators:
        if isinstance(decorator, ast.Call) and _is_rule_mark(decorator.func):
            ids.extend(
                arg.value for arg in decorator.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
    return tuple(ids)


def _is_rule_mark(func: ast.expr) -> bool:
    # pytest.mark.rule(...) or mark.rule(...)
    if not (isinstance(func, ast.Attribute) and func.attr == "rule"):
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
        isinstance(owner, ast.Name) and owner.id == "mark"
    )


def _dedupe(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


# ---------------------------------------------------------------- Rego tests


def scan_rego_tests(policies_dir: Path, repo_root: Path | None = None) -> list[TestRef]:
    """Every Rego ``test_*`` rule preceded by a ``# rules: <ids>`` comment."""
    root = repo_root or policies_dir.parent
    refs: list[TestRef] = []
    for path in sorted(policies_dir.rglob("*_test.rego")):
        source = path.read_text(encoding="utf-8")
        package = _REGO_PACKAGE.search(source)
        pkg = package.group(1) if package else "?"
        pending: list[str] = []
        for line in source.splitlines():
            comment = _REGO_RULES_COMMENT.match(line)
            if comment:
                pending.extend(comment.group(1).replace(",", " ").split())
                continue
            test = _REGO_TEST.match(line)
            if test and pending:
                node = f"{path.relative_to(root).as_posix()}::{pkg}.{test.group(1)}"
                refs.append(TestRef(node, "rego", _dedupe(pending)))
            if line.strip() and not line.lstrip().startswith("#"):
                pending = []
    return refs


# ---------------------------------------------------------------- report


def _rule_defined(path: Path, source: str, rule: str) -> bool:
    """A Rego rule head at the start of a line, or a module-level Python function, class or constant
    (rules the gateway enforces outside Rego, e.g. timers and interview scheduling)."""
    if path.suffix == ".py":
        pattern = rf"^(def|class) {re.escape(rule)}\b|^{re.escape(rule)}\s*[:=]"
    else:
        pattern = rf"^{re.escape(rule)}\b"
    return re.search(pattern, source, re.MULTILINE) is not None


def _enforced_in_rego(entry: RuleEntry) -> bool:
    return any(ref.partition(":")[0].endswith(".rego") for ref in entry.policy)


def build_report(repo_root: Path) -> Report:
    """Join the catalogue with every test that names an id."""
    catalogue = load_catalogue(repo_root / CATALOGUE)
    tests = [
        *scan_python_tests(repo_root / TESTS_DIR, repo_root),
        *scan_rego_tests(repo_root / POLICIES_DIR, repo_root),
    ]
    rows = []
    for rule_id, entry in catalogue.items():
        py = tuple(t.node for t in tests if t.kind == "pytest" and rule_id in t.ids)
        rego = tuple(t.node for t in tests if t.kind == "rego" and rule_id in t.ids)
        rows.append(RuleRow(entry, py, rego))
    missing = []
    for entry in catalogue.values():
        for ref in entry.policy:
            file_part, _, rule = ref.partition(":")
            path = repo_root / file_part
            if not rule or not path.is_file() or not _rule_defined(path, path.read_text(encoding="utf-8"), rule):
                missing.append(f"{entry.rule_id}: {ref}")
    return Report(rows=tuple(rows), tests=tuple(tests), missing_policy_refs=tuple(missing))


def check(report: Report) -> list[str]:
    """Problems: a rule still planned (neither implemented nor out of scope), an implemented rule
    without a pytest test or a Rego test, a policy reference that does not resolve, an id in a
    test that is not in the catalogue."""
    problems: list[str] = []
    known = {row.entry.rule_id for row in report.rows}
    for row in report.rows:
        if row.entry.status == "planned":
            problems.append(f"{row.entry.rule_id}: planned: implement it or set it out of scope with a reason")
        if row.entry.status != "implemented":
            continue
        if not row.entry.policy:
            problems.append(f"{row.entry.rule_id}: implemented but names no policy rule")
        if not row.pytest_tests:
            problems.append(f"{row.entry.rule_id}: implemented but no pytest test is marked with it")
        if not row.rego_tests and _enforced_in_rego(row.entry):
            problems.append(f"{row.entry.rule_id}: implemented in Rego but no Rego test names it")
    problems.extend(f"unresolved policy reference {ref}" for ref in report.missing_policy_refs)
    for test in report.tests:
        for rule_id in test.ids:
            if rule_id in known or is_external_id(rule_id):
                continue
            problems.append(f"{test.node}: unknown rule id {rule_id!r}")
    return problems


def render_table(report: Report) -> str:
    """rule -> status -> policy rules -> tests, as a plain-text table."""
    header = ("rule", "status", "lives in", "policy rules", "tests")
    lines = [header]
    for row in report.rows:
        policy = ", ".join(ref.removeprefix("policies/gateway/") for ref in row.entry.policy) or "-"
        if row.entry.status == "out_of_scope":
            reason = row.entry.reason or ""
            policy = f"({reason if len(reason) <= 70 else reason[:69] + '…'})"
        tests = f"{len(row.pytest_tests)} pytest, {len(row.rego_tests)} rego"
        lines.append((row.entry.rule_id, row.entry.status, row.entry.lives_in, policy, tests))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    out = []
    for line in lines:
        out.append("  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(line)).rstrip())
    implemented = sum(1 for row in report.rows if row.entry.status == "implemented")
    aside = sum(1 for row in report.rows if row.entry.status == "out_of_scope")
    out.append(f"{len(report.rows)} rules, {implemented} implemented, {aside} out of scope, "
               f"{len(report.rows) - implemented - aside} planned, {len(report.tests)} tests naming rule ids")
    return "\n".join(out)


def main_check(repo_root: Path) -> int:
    """Print the table and the problems; 0 when there are none, 1 otherwise."""
    try:
        report = build_report(repo_root)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"cannot read the rule catalogue: {exc}")  # noqa: T201 - CLI output
        return 2
    print(render_table(report))  # noqa: T201 - CLI output
    problems = check(report)
    for problem in problems:
        print(f"PROBLEM {problem}")  # noqa: T201 - CLI output
    return 1 if problems else 0
