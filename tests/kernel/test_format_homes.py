"""Each format has one home (issue 14, item 4): the formulas are written nowhere else in the runtime packages.

A source scan, so a new copy fails here instead of drifting from the reference unnoticed. The homes:
the Merkle leaf and node hash in ``crypto/merkle.py``, the audit leaf encoding in
``crypto/audit_leaf.py``, canonical JSON's encoder in ``crypto/canonical.py``, RFC 3339 in
``kernel/timestamps.py``, record ids in ``kernel/ids.py``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "consent", "crypto", "connectors", "kernel")


def _sources() -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


SOURCES = _sources()

COPIES = {
    "Merkle node or leaf hash": (re.compile(r"""sha256\(\s*b["']\\x0[01]["']\s*\+|_(LEAF|NODE)_PREFIX\s*="""),
                                 {"crypto/merkle.py"}),
    "canonical JSON's encoder": (re.compile(r"c_make_encoder|encode_basestring"), {"crypto/canonical.py"}),
    "RFC 3339 formatting": (re.compile(r"""strftime\(["']%Y-%m-%dT|replace\(["']\+00:00["'],\s*["']Z["']\)"""
                                       r"|def rfc3339"),
                            # a signed checkpoint's fixed milliseconds are a format of their own
                            {"kernel/timestamps.py", "crypto/checkpoint.py"}),
    "record id generation": (re.compile(r"""def _?new_id|["'][a-z]+_["']\s*\+\s*secrets\.|f["'][a-z]+_\{secrets\."""),
                             {"kernel/ids.py"}),
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_written_once(name: str) -> None:
    pattern, homes = COPIES[name]
    found = {path for path, text in SOURCES.items() if pattern.search(text)}
    assert found == homes, f"{name} written outside its home: {sorted(found - homes)}"


def test_the_scan_sees_the_runtime_packages() -> None:
    assert {"crypto/merkle.py", "kernel/ids.py", "gateway/audit/verify.py", "connectors/audit.py"} <= set(SOURCES)


def test_crypto_merkle_imports_only_the_standard_library() -> None:
    # The SQLite verifier's worker process (python -I -S) loads the file itself (gateway/audit/sqlite_leaves.py).
    tree = ast.parse(SOURCES["crypto/merkle.py"])
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules and modules <= set(sys.stdlib_module_names) | {"__future__"}, modules


def test_the_kernel_imports_only_the_standard_library() -> None:
    for path in (ROOT / "kernel").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, (path.name, name)
