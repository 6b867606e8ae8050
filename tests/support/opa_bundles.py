"""OPA's bundle plugin for the OPA-compatible server: pull a signed bundle, verify it, activate it.

Configured as real OPA is (``services``, ``bundles.<name>.signing.keyid``, ``keys.<id>`` with a PEM public
key and ``algorithm``; see ``deploy/opa/config.yaml``), it behaves as OPA's plugin does: download the
bundle (``If-None-Match`` with the last ETag), refuse it unless ``.signatures.json`` holds exactly one JWT
that verifies under the configured key and lists every other file with its hash (and nothing more), and
then activate it in one step: modules as ``<bundle>/<path>``, data documents, the manifest at
``data.system.bundles.<bundle>.manifest``; from then on API writes under the bundle's roots are refused.
A refused bundle leaves the active one in place and is recorded in :attr:`BundlePlugin.status`.

The checks run in **real OPA** (v1.20.2, through the opa-golib bindings), not in the gateway's code: the
signature with OPA's ``io.jwt.verify_es256``/``io.jwt.decode``, each file's hash with OPA's
``crypto.sha256`` over the file (Rego) or over OPA's own ``json.marshal`` of the parsed document (keys
sorted, compact; its HTML escapes undone, as the bundle hasher does not make them). Tests call
:meth:`BundlePlugin.poll_once` to make one polling round happen now (no sleeps); :meth:`start` polls in a
thread for a live gateway.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
from opa_bindings import OpaEngine, OpaError

from tests.support.opa_server import OpaStore

__all__ = ["BundleConfig", "BundlePlugin", "BundleStatus"]

_VERIFY = r'''package bundle_verify

import rego.v1

parts := io.jwt.decode(input.token)

header := parts[0]

payload := parts[1]

signature_ok if {
	input.algorithm == "ES256"
	header.alg == "ES256"
	io.jwt.verify_es256(input.token, input.key)
}

structured(name) if endswith(name, "/data.json")

structured(name) if name == "data.json"

structured(name) if name == ".manifest"

unescaped(s) := replace(replace(replace(s, "\\u003c", "<"), "\\u003e", ">"), "\\u0026", "&")

canonical(text) := unescaped(json.marshal(json.unmarshal(text)))

digest[name] := crypto.sha256(canonical(text)) if {
	some name, text in input.files
	structured(name)
}

digest[name] := crypto.sha256(text) if {
	some name, text in input.files
	not structured(name)
}
'''


@dataclass(frozen=True)
class BundleConfig:
    """The parts of OPA's configuration the plugin reads."""

    url: str
    """``services.<service>.url`` plus ``bundles.<name>.resource``."""
    key_pem: str
    """``keys.<keyid>.key``."""
    key_id: str = "policy"
    algorithm: str = "ES256"
    name: str = "gateway"
    token: str | None = None
    """``services.<service>.credentials.bearer.token``, if any."""


@dataclass
class BundleStatus:
    """What OPA's status reports for one bundle."""

    name: str
    active_revision: str | None = None
    activations: int = 0
    downloads: int = 0
    errors: list[str] = field(default_factory=list)
    """The last round's error messages (empty after a successful round)."""
    code: str | None = None
    """``bundle_error`` after a refused bundle."""


class BundlePlugin:
    """Pulls, verifies and activates one signed bundle into an :class:`OpaStore`."""

    def __init__(self, store: OpaStore, config: BundleConfig) -> None:
        self.store = store
        self.config = config
        self.status = BundleStatus(config.name)
        self._etag: str | None = None
        self._verifier = OpaEngine()
        self._verifier.add_policy("bundle_verify.rego", _VERIFY)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.bundles_configured = True

    def poll_once(self) -> bool:
        """One polling round: True if a new bundle was activated."""
        with self._lock:
            headers = {"If-None-Match": self._etag} if self._etag else {}
            if self.config.token:
                headers["Authorization"] = f"Bearer {self.config.token}"
            try:
                response = httpx.get(self.config.url, headers=headers, timeout=10.0)
            except httpx.HTTPError as exc:
                return self._refuse(f"download failed: {type(exc).__name__}")
            if response.status_code == 304:
                self.status.errors, self.status.code = [], None
                return False
            if response.status_code != 200:
                return self._refuse(f"server replied with HTTP {response.status_code}")
            self.status.downloads += 1
            try:
                manifest, policies, data = self._verified(response.content)
                self.store.activate_bundle(self.config.name, list(manifest.get("roots") or [""]), policies, data,
                                           manifest, response.headers.get("etag", ""))
            except (ValueError, OpaError) as exc:
                return self._refuse(str(exc))
            self._etag = response.headers.get("etag")
            self.status.active_revision = manifest.get("revision")
            self.status.activations += 1
            self.status.errors, self.status.code = [], None
            return True

    def _refuse(self, message: str) -> bool:
        self.status.errors, self.status.code = [message], "bundle_error"
        return False

    def _verified(self, raw: bytes) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
        files = _untar(raw)
        signatures = files.pop(".signatures.json", None)
        if signatures is None:
            raise ValueError("bundle missing .signatures.json file")  # OPA's words, with signing.keyid set
        tokens = json.loads(signatures).get("signatures") or []
        if len(tokens) != 1:
            raise ValueError(".signatures.json: expected exactly one JWT")
        texts = {name: content.decode("utf-8") for name, content in files.items()}
        checked = self._verifier.eval_document("bundle_verify", {
            "token": tokens[0], "key": self.config.key_pem, "algorithm": self.config.algorithm, "files": texts})
        if checked.get("signature_ok") is not True:
            raise ValueError("failed to verify JWT signature")
        header, payload = checked["header"], checked["payload"]
        key_id = self.config.key_id or header.get("kid") or payload.get("keyid")
        if key_id != self.config.key_id:
            raise ValueError(f"verification key {key_id!r} not found")
        if payload.get("scope", "") != "":
            raise ValueError("scope mismatch")
        listed = {entry["name"].lstrip("/"): entry for entry in payload.get("files", [])}
        for name in sorted(texts):
            entry = listed.pop(name, None)
            if entry is None:
                raise ValueError(f"file {name} not included in bundle signature")
            if entry.get("algorithm") != "SHA-256" or entry.get("hash") != checked["digest"][name]:
                raise ValueError(f"{name}: digest mismatch")
        if listed:
            raise ValueError(f"file(s) {sorted(listed)} specified in bundle signatures but not found in the bundle")
        manifest = json.loads(texts.pop(".manifest", "{}"))
        policies = {name: text for name, text in texts.items() if name.endswith(".rego")}
        data: dict[str, Any] = {}
        for name, text in texts.items():
            if name.endswith("/data.json") or name == "data.json":
                node = data
                for part in name.split("/")[:-1]:
                    node = node.setdefault(part, {})
                node.update(json.loads(text))
        return manifest, policies, data

    def start(self, interval_s: float = 0.5) -> BundlePlugin:
        """Poll in a daemon thread until :meth:`stop` (for a live gateway)."""
        def run() -> None:
            while not self._stop.is_set():
                self.poll_once()
                self._stop.wait(interval_s)
        self._thread = threading.Thread(target=run, name="opa-bundle-plugin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._verifier.close()


def _untar(raw: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                files[member.name.lstrip("/")] = handle.read() if handle is not None else b""
    return files
