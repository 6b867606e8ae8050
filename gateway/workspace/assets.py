"""libsodium.js for the workspace, served from this gateway's own origin (never a CDN).

The modules come from ``node_modules``, installed by ``npm ci`` from ``package-lock.json``
(integrity hashes checked by npm). The wrapper imports its core by a bare package name, which a
browser cannot resolve without an import map (an inline script); the one import is rewritten to
the sibling URL here, and the rewrite is checked to have happened exactly once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..settings import PACKAGE_ROOT

__all__ = ["NODE_MODULES", "VendorModule", "vendor_module"]

NODE_MODULES = Path(os.environ.get("GATEWAY_NODE_MODULES") or PACKAGE_ROOT.parent / "node_modules")
"""The repository's ``node_modules`` (``./dev`` runs ``npm ci``); the image sets ``GATEWAY_NODE_MODULES``."""

_WRAPPERS = "libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs"
_CORE = "libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs"
_BARE_IMPORT = b'from"libsodium-sumo"'
_LOCAL_IMPORT = b'from"./libsodium-sumo.mjs"'

SERVED = {"libsodium-wrappers.mjs": _WRAPPERS, "libsodium-sumo.mjs": _CORE}
"""URL name under ``/w/vendor/`` -> path inside node_modules."""


@dataclass(frozen=True)
class VendorModule:
    body: bytes
    etag: str


class AssetsMissing(RuntimeError):
    """node_modules lacks the module: ``npm ci`` has not been run (``./dev`` runs it)."""


@cache
def vendor_module(name: str, root: Path = NODE_MODULES) -> VendorModule:
    """The bytes to serve for ``name`` (a key of :data:`SERVED`); :class:`KeyError` for another name."""
    relative = SERVED[name]
    path = root / relative
    if not path.is_file():
        raise AssetsMissing(f"{path} is missing: run `npm ci` in the repository root")
    body = path.read_bytes()
    if name == "libsodium-wrappers.mjs":
        if body.count(_BARE_IMPORT) != 1:
            raise AssetsMissing("libsodium-wrappers changed its import of the core; update gateway/workspace/assets.py")
        body = body.replace(_BARE_IMPORT, _LOCAL_IMPORT)
    return VendorModule(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')
