"""The consent package's public surface and its seams with the gateway."""

from __future__ import annotations

import ast
from pathlib import Path

import consent
from consent.audit import AuditAction, MemoryAuditSink
from consent.directory import AgencyInfo, StaticDirectory
from gateway.audit.tags import AuditTag

PACKAGE = Path(consent.__file__).resolve().parent


def test_all_names_the_public_api() -> None:
    assert sorted(consent.__all__) == sorted(set(consent.__all__))
    for name in consent.__all__:
        assert hasattr(consent, name), name


def test_every_consent_audit_action_is_a_gateway_audit_tag() -> None:
    assert {str(a) for a in AuditAction} <= {str(t) for t in AuditTag}


def test_consent_imports_neither_the_gateway_nor_a_web_framework() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                assert not name.startswith(("gateway", "fastapi", "starlette")), (path.name, name)


def test_shipped_doubles() -> None:
    directory = StaticDirectory({"a": AgencyInfo(id="a", name="A", kind="ngo", jurisdiction="NL")})
    assert directory.get("a") is not None and directory.get("b") is None
    sink = MemoryAuditSink()
    sink.record(None, action=AuditAction.CONSENT_GRANT, decision="allow", reason=None,  # type: ignore[arg-type]
                subject_id="s", purpose="shelter", recipient_agency_id=None, classes=["D5"], basis={}, details={},
                actor=consent.Actor.system())
    assert sink.entries[0]["action"] == "consent:record:grant"
