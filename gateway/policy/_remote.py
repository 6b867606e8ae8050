"""A real OPA server over its REST API, through ``opa-python-client``.

This is the only module that imports ``opa_client``. Every failure to get a trustworthy
answer raises (connection refused, timeout, 5xx, an answer that is not a JSON object);
``decide`` turns that into a deny, so an unreachable OPA never stops the gateway and never
lets anything through. ``decide`` also refuses an answer computed from another policy
version than the local bundle's (policy_version_mismatch): a replica must not decide on
stale policy.

Two ways to give OPA the policy. *Pulled* (production): OPA downloads the bundle the policy owner
signed and verifies it itself (``bundles`` and ``keys`` in OPA's configuration, see
``deploy/opa/config.yaml``); this engine then never writes to OPA, and it is ready only while OPA says
it has activated this replica's revision (``data.system.bundles.gateway.manifest.revision``).
*Pushed* (development and tests only): :meth:`RemotePolicyEngine.publish` uploads modules and data over
``PUT /v1/policies`` and ``PUT /v1/data``, which carry no signature.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import PolicyNotFoundError, RegoParseError

from crypto.canonical import canonical_json
from gateway.policy.bundle import PolicyBundle
from gateway.policy.engine import (
    PolicyEngineError,
    PolicyResultError,
    PolicyTimeoutError,
    PolicyUnreachableError,
)

__all__ = ["RemotePolicyEngine"]

_PACKAGE = "gateway"
_RULE = "decision"
_DATA_ROOT = "gateway_data"
_INDEX_ROOT = "gateway_index"
_META_ROOT = "gateway_meta"
# Only modules under this prefix are ours to replace or delete on a shared server.
_MODULE_PREFIX = "gateway/"
# Where OPA keeps the manifest of the bundle named "gateway" it activated.
_ACTIVATED_REVISION = "system/bundles/gateway/manifest/revision"


class RemotePolicyEngine:
    """A ``PolicyEngine`` that asks an OPA server (production, one per replica or sidecar)."""

    name = "opa"

    def __init__(
        self,
        base_url: str,
        bundle: PolicyBundle,
        timeout_s: float,
        token: str | None = None,
        *,
        retries: int = 0,
        pulled: bool = False,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("opa_url must be an http(s) URL with a host")
        if parts.path not in {"", "/"}:
            raise ValueError("opa_url must not have a path")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._bundle = bundle
        self.version = bundle.version
        self.pulls_bundle = pulled
        """OPA pulls the signed bundle itself: never push, and readiness is OPA's activated revision."""
        self._client = OpaClient(
            host=parts.hostname,
            port=port,
            ssl=parts.scheme == "https",
            timeout=timeout_s,
            retries=retries,
            token=token,
        )

    def evaluate(self, input_doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """POST /v1/data/gateway/decision; None when OPA answers ``{}`` (undefined)."""
        try:
            response = self._client.query_rule(dict(input_doc), _PACKAGE, _RULE)
        except requests.Timeout as exc:
            raise PolicyTimeoutError("OPA did not answer in time") from exc
        except requests.ConnectionError as exc:
            raise PolicyUnreachableError("OPA is unreachable") from exc
        if not isinstance(response, dict):
            raise PolicyResultError("OPA answered with something other than an object")
        if "result" not in response:
            return None
        result = response["result"]
        if not isinstance(result, dict):
            raise PolicyResultError("OPA result is not an object")
        return result

    def publish(self) -> None:
        """Upload the bundle: policies, then data and its index, then the version last.

        Writing the version last means a half-finished upload is caught by the version
        check rather than served. Modules on the server that the bundle no longer has are
        deleted. Refused when OPA pulls the signed bundle (``policy_push_disabled``): an unsigned upload
        must never be how policy reaches a production OPA.
        """
        if self.pulls_bundle:
            raise PolicyEngineError("policy_push_disabled: OPA pulls the signed policy bundle itself")
        try:
            wanted = {module.module_id for module in self._bundle.modules}
            self._upload_modules()
            for stale in self._server_module_ids() - wanted:
                self._client.delete_policy(stale)
            data = self._bundle.data()
            self._client.update_or_create_data(data[_DATA_ROOT], _DATA_ROOT)
            self._client.update_or_create_data(data[_INDEX_ROOT], _INDEX_ROOT)
            self._client.update_or_create_data({**data[_META_ROOT], "digest": self.digest}, _META_ROOT)
        except requests.Timeout as exc:
            raise PolicyTimeoutError("OPA did not answer in time") from exc
        except requests.ConnectionError as exc:
            raise PolicyUnreachableError("OPA is unreachable") from exc

    def _upload_modules(self) -> None:
        """Upload every module; OPA compiles on each upload, so a module that calls a function
        of a module not yet uploaded is rejected. Retry those until a round makes no progress."""
        pending = list(self._bundle.modules)
        while pending:
            failed = []
            last_error: RegoParseError | None = None
            for module in pending:
                try:
                    self._client.update_policy_from_string(module.source, module.module_id, rego_compat=False)
                except RegoParseError as exc:
                    failed.append(module)
                    last_error = exc
            if len(failed) == len(pending) and last_error is not None:
                raise PolicyEngineError(f"OPA rejected the policy bundle: {last_error.message}") from last_error
            pending = failed

    def _server_module_ids(self) -> set[str]:
        listed = self._client.get_policies_list()
        return {item for item in listed if isinstance(item, str) and item.startswith(_MODULE_PREFIX)}

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 over every module's id and source and the bundle's data: what this replica decides with
        (computed once: the bundle does not change under a running replica)."""
        material = canonical_json({"modules": {m.module_id: m.source for m in self._bundle.modules},
                                   "data": self._bundle.data()})
        return hashlib.sha256(material).hexdigest()

    def server_digest(self) -> str | None:
        """The digest the server's bundle was published with, recomputed from what the server holds now:
        the modules it serves under our prefix and its data. None if it cannot be read."""
        try:
            answer = self._client.get_data(_META_ROOT)
            listed = self._client.get_policies_list()
            modules: dict[str, str] = {}
            for module_id in listed:
                if isinstance(module_id, str) and module_id.startswith(_MODULE_PREFIX):
                    raw = self._client.get_policy(module_id).get("result", {}).get("raw")
                    if not isinstance(raw, str):
                        return None
                    modules[module_id] = raw
            data = {root: self._client.get_data(root).get("result") for root in (_DATA_ROOT, _INDEX_ROOT)}
        except Exception:
            return None
        meta = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(meta, dict):
            return None
        meta = {k: v for k, v in meta.items() if k != "digest"}
        try:
            material = canonical_json({"modules": modules, "data": {**data, _META_ROOT: meta}})
        except (TypeError, ValueError):
            return None
        return hashlib.sha256(material).hexdigest()

    def server_version(self) -> str | None:
        """The bundle version the server holds, or None."""
        try:
            answer = self._client.get_data(f"{_META_ROOT}/version")
        except Exception:
            return None
        value = answer.get("result") if isinstance(answer, dict) else None
        return value if isinstance(value, str) else None

    def published_marker(self) -> Literal["current", "other", "unreachable"]:
        """The cheap question a readiness probe asks (one small ``GET /v1/data``): does the server say it
        holds this bundle (its version and digest, written last by :meth:`publish`)? ``other`` when it holds
        nothing (it restarted), another bundle or a half-finished upload; ``unreachable`` when it does not
        answer or refuses this gateway's token. What it says is checked in full by :meth:`ready`.

        When OPA pulls the bundle: ``current`` when the revision OPA activated (after verifying its signature
        against the policy owner's key) is this replica's."""
        if self.pulls_bundle:
            return self._activated_marker()
        try:
            answer = self._client.get_data(_META_ROOT)
        except PolicyNotFoundError as exc:
            return "unreachable" if exc.expression in {"unauthorized", "internal_error"} else "other"
        except Exception:
            return "unreachable"
        meta = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(meta, dict) and meta.get("version") == self.version and meta.get("digest") == self.digest:
            return "current"
        return "other"

    def activated_revision(self) -> str | None:
        """The revision of the signed bundle OPA activated (it verified the signature first), or None."""
        try:
            answer = self._client.get_data(_ACTIVATED_REVISION)
        except Exception:
            return None
        value = answer.get("result") if isinstance(answer, dict) else None
        return value if isinstance(value, str) else None

    def _activated_marker(self) -> Literal["current", "other", "unreachable"]:
        try:
            answer = self._client.get_data(_ACTIVATED_REVISION)
        except PolicyNotFoundError as exc:
            return "unreachable" if exc.expression in {"unauthorized", "internal_error"} else "other"
        except Exception:
            return "unreachable"
        value = answer.get("result") if isinstance(answer, dict) else None
        return "current" if value == self.version else "other"

    def ready(self) -> bool:
        """Healthy, and serving this bundle's version."""
        if self.pulls_bundle:
            try:
                healthy = bool(self._client.check_health())
            except Exception:
                return False
            return healthy and self.activated_revision() == self.version
        try:
            healthy = bool(self._client.check_health())
        except Exception:
            return False
        # The version label alone could be kept by a swapped policy: compare what the server actually holds.
        return healthy and self.server_version() == self.version and self.server_digest() == self.digest

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close_connection()
