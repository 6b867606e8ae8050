"""The policy bundle: Rego modules plus the data documents, and the version that names them.

The version is ``"sha256:" + 16 hex digits`` of a hash over the sorted relative file names
and contents of every policy module and data document, and over the index derived from the
documents (``gateway/policy/index.py``). The bundle injects it into the data as
``{"gateway_meta": {"version": ...}}``; the policy echoes it in every decision, and a replica
answering with another version is not trusted (policy_version_mismatch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.policy.index import derive_index

__all__ = ["DEFAULT_POLICY_DIR", "PolicyBundle", "PolicyModule"]

# gateway/policy/bundle.py -> <repo>/policies (a checkout; pass `directory` otherwise).
DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"

_TEST_SUFFIX = "_test.rego"
_DATA_DIR = "data"
_DATA_ROOT = "gateway_data"
_META_ROOT = "gateway_meta"
_INDEX_ROOT = "gateway_index"
# The derived index takes part in the version under this name (no file has it).
_INDEX_NAME = "<derived>/gateway_index.json"


@dataclass(frozen=True)
class PolicyModule:
    """One Rego source file; ``path`` is relative to the policies directory, with "/"."""

    path: str
    source: str

    @property
    def module_id(self) -> str:
        """The id used on an OPA server (``PUT /v1/policies/<id>``)."""
        return self.path.removesuffix(".rego")


@dataclass(frozen=True)
class PolicyBundle:
    """Everything an engine needs to evaluate ``data.gateway.decision``."""

    directory: Path
    modules: tuple[PolicyModule, ...]
    test_modules: tuple[PolicyModule, ...]
    documents: Mapping[str, Any]
    """The data documents by name (file stem), as loaded from ``policies/data``."""
    version: str
    index: Mapping[str, Any]
    """Pre-indexed views of the documents (``data.gateway_index``), see ``gateway/policy/index.py``."""
    raw_documents: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    """The data documents' files as read (the version and a signed bundle's hashes cover these bytes)."""

    @classmethod
    def load(cls, directory: str | Path | None = None) -> PolicyBundle:
        """Read every ``.rego`` under the directory and every JSON file in its ``data/``."""
        root = Path(directory) if directory is not None else DEFAULT_POLICY_DIR
        if not root.is_dir():
            raise FileNotFoundError(f"policy directory not found: {root}")
        sources = {path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
                   for path in sorted(root.rglob("*.rego"))}
        documents = {path.stem: path.read_bytes() for path in sorted((root / _DATA_DIR).glob("*.json"))}
        return cls.from_sources(root, sources, documents)

    @classmethod
    def from_sources(cls, directory: Path, sources: Mapping[str, str], documents: Mapping[str, bytes]) -> PolicyBundle:
        """A bundle from Rego sources by relative path and raw JSON data documents by name (file stem): what
        :meth:`load` reads from a directory, or what a verified signed bundle holds (``gateway/policy/signed.py``).
        The version is the same either way."""
        modules: list[PolicyModule] = []
        tests: list[PolicyModule] = []
        for path in sorted(sources):
            module = PolicyModule(path, sources[path])
            (tests if path.endswith(_TEST_SUFFIX) else modules).append(module)
        if not modules:
            raise FileNotFoundError(f"no policy modules under {directory}")
        parsed: dict[str, Any] = {}
        hashed: list[tuple[str, bytes]] = [(m.path, m.source.encode("utf-8")) for m in modules]
        for name in sorted(documents):
            raw = documents[name]
            parsed[name] = json.loads(raw)
            hashed.append((f"{_DATA_DIR}/{name}.json", raw))
        index = derive_index(parsed)
        hashed.append((_INDEX_NAME, json.dumps(index, sort_keys=True).encode("utf-8")))
        return cls(
            directory=directory,
            modules=tuple(modules),
            test_modules=tuple(tests),
            documents=parsed,
            version=_version(hashed),
            index=index,
            raw_documents=dict(documents),
        )

    def data(self) -> dict[str, Any]:
        """The data document for an engine: the data documents, their index and the bundle version."""
        return {
            _DATA_ROOT: json.loads(json.dumps(self.documents)),
            _INDEX_ROOT: json.loads(json.dumps(self.index)),
            _META_ROOT: {"version": self.version},
        }

    def tests_modules(self) -> tuple[PolicyModule, ...]:
        """The ``_test.rego`` modules (run by tests/policy on every engine)."""
        return self.test_modules


def _version(files: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for name, content in sorted(files):
        for part in (name.encode("utf-8"), content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return "sha256:" + digest.hexdigest()[:16]
