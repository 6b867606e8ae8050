"""Signed policy bundles in OPA's own format: built by the policy owner, verified before any use.

A bundle is in the format ``opa build -b --signing-key`` makes: a gzipped tar of the Rego modules, one
``data.json`` per data document (``gateway_data/<name>/data.json``, the derived index at
``gateway_index/data.json``, the version at ``gateway_meta/data.json``), a ``.manifest`` (revision =
the bundle version, the roots the bundle owns) and ``.signatures.json``: one JWT (``ES256``, ``kid``
in the header) whose payload lists every other file with its SHA-256, as OPA's bundle signing
specification defines (structured files hashed over their canonical JSON, everything else over its
bytes). OPA, configured with the policy owner's public key under the same key id, refuses a bundle
that is unsigned, signed by another key or changed after signing; :func:`verify_signed_bundle` refuses
the same, each with a ``reason``, before the gateway uses or serves a bundle.

The signing key is the policy owner's (the DPO's), never the gateway operator's:
:func:`build_signed_bundle` runs on the owner's machine (``gateway policy sign``); the gateway holds
only the public key. Only the development default signs on the gateway's host, with a key it makes in
the data directory (``gateway/policy/provenance.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from gateway.policy.bundle import PolicyBundle

__all__ = [
    "ALGORITHM",
    "BUNDLE_ROOTS",
    "DEFAULT_KEY_ID",
    "MANIFEST",
    "SIGNATURES",
    "PolicyBundleError",
    "VerifiedBundle",
    "build_signed_bundle",
    "bundle_files",
    "generate_signing_key",
    "load_signing_key",
    "load_verification_key",
    "opa_file_hash",
    "verify_signed_bundle",
]

ALGORITHM = "ES256"
"""ECDSA P-256: an algorithm every OPA release verifies (``keys.<id>.algorithm: ES256``)."""
DEFAULT_KEY_ID = "policy"
MANIFEST = ".manifest"
SIGNATURES = ".signatures.json"
BUNDLE_ROOTS = ("gateway", "gateway_data", "gateway_index", "gateway_meta")
"""What the bundle owns on an OPA server: nothing under these paths can be written through OPA's API."""
_HASH = "SHA-256"
_MAX_BUNDLE_BYTES = 16 * 1024 * 1024
"""Uncompressed; today's bundle is about 200 KB."""
_DATA_FILE = "data.json"


class PolicyBundleError(Exception):
    """A bundle that must not be used, with a machine-readable ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VerifiedBundle:
    """A signed bundle whose signature and every file hash verified, and the policy it holds."""

    raw: bytes
    """The .tar.gz exactly as signed (what OPA pulls)."""
    revision: str
    key_id: str
    policy: PolicyBundle


# --- keys -------------------------------------------------------------------------------------------


def generate_signing_key() -> ECKey:
    """A new P-256 policy signing key (the policy owner's; keep the private half off the gateway host)."""
    return ECKey.generate_key("P-256", private=True)


def load_signing_key(path: Path) -> ECKey:
    """A PEM private key (PKCS#8 or SEC1) for ``ES256``."""
    key = _import_key(path)
    if not key.is_private:
        raise PolicyBundleError("policy_signing_key_invalid", f"{path} holds no private key")
    return key


def load_verification_key(path: Path) -> ECKey:
    """The policy owner's public key (PEM, as in OPA's ``keys`` configuration); a private key's public half."""
    key = _import_key(path)
    return ECKey.import_key(key.as_pem(private=False)) if key.is_private else key


def _import_key(path: Path) -> ECKey:
    try:
        key = ECKey.import_key(path.read_bytes())
    except FileNotFoundError:
        raise PolicyBundleError("policy_key_missing", f"no policy key at {path}") from None
    except (ValueError, TypeError, JoseError) as exc:
        raise PolicyBundleError("policy_key_invalid", f"{path} is not a P-256 PEM key ({type(exc).__name__})") from None
    if key.curve_name != "P-256":
        raise PolicyBundleError("policy_key_invalid", f"{path} is not a P-256 key")
    return key


# --- building ---------------------------------------------------------------------------------------


def bundle_files(policy: PolicyBundle) -> dict[str, bytes]:
    """The files of the OPA bundle for ``policy`` (test modules left out), by path without a leading "/"."""
    files: dict[str, bytes] = {module.path: module.source.encode("utf-8") for module in policy.modules}
    data = policy.data()
    if set(policy.raw_documents) != set(policy.documents):
        raise PolicyBundleError("bundle_malformed", "the policy was not loaded from its files")
    for name, raw in sorted(policy.raw_documents.items()):
        files[f"gateway_data/{name}/{_DATA_FILE}"] = bytes(raw)
    files[f"gateway_index/{_DATA_FILE}"] = _json_bytes(data["gateway_index"])
    files[f"gateway_meta/{_DATA_FILE}"] = _json_bytes(data["gateway_meta"])
    files[MANIFEST] = _json_bytes({"revision": policy.version, "roots": list(BUNDLE_ROOTS)})
    return files


def build_signed_bundle(policy: PolicyBundle, key: ECKey, *, key_id: str = DEFAULT_KEY_ID) -> bytes:
    """The signed bundle (.tar.gz) of ``policy``: every file's hash in one ES256 JWT, as ``opa sign`` makes."""
    files = bundle_files(policy)
    listed = [{"name": name, "hash": opa_file_hash(name, content), "algorithm": _HASH}
              for name, content in _signing_order(files)]
    payload = json.dumps({"files": listed, "keyid": key_id}, separators=(",", ":")).encode("utf-8")
    token = jws.serialize_compact({"alg": ALGORITHM, "kid": key_id}, payload, key, algorithms=[ALGORITHM])
    files[SIGNATURES] = _json_bytes({"signatures": [token]})
    return _tar_gz(files)


def _signing_order(files: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """Modules first, then data, then the manifest (the order ``opa build`` lists them in)."""
    def rank(name: str) -> tuple[int, str]:
        return (0 if name.endswith(".rego") else 2 if name == MANIFEST else 1, name)
    return [(name, files[name]) for name in sorted(files, key=rank)]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def _tar_gz(files: Mapping[str, bytes]) -> bytes:
    """Deterministic: sorted entries, fixed times, owners and modes (the same files make the same archive)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo("/" + name)
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


# --- OPA's file hash --------------------------------------------------------------------------------


class _Number(str):
    """A JSON number kept as written: OPA hashes numbers as their literal text (``json.Number``)."""


def opa_file_hash(name: str, content: bytes) -> str:
    """SHA-256 (hex) of a bundle file as OPA computes it: structured files (``data.json``, ``.manifest``)
    over their canonical JSON (keys sorted, no white space, Go's string escaping without HTML escapes,
    numbers as written), every other file over its bytes."""
    digest = hashlib.sha256()
    if PurePosixPath(name).name in {_DATA_FILE, MANIFEST}:
        try:
            value = json.loads(content, parse_float=_Number, parse_int=_Number, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PolicyBundleError("bundle_malformed", f"{name} is not JSON") from exc
        _walk(value, digest)
    else:
        digest.update(content)
    return digest.hexdigest()


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _walk(value: Any, digest: Any) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for i, key in enumerate(sorted(value)):
            if i:
                digest.update(b",")
            digest.update(_go_string(key))
            digest.update(b":")
            _walk(value[key], digest)
        digest.update(b"}")
    elif isinstance(value, list):
        digest.update(b"[")
        for i, item in enumerate(value):
            if i:
                digest.update(b",")
            _walk(item, digest)
        digest.update(b"]")
    elif isinstance(value, _Number):
        digest.update(str.__str__(value).encode("ascii"))
    elif isinstance(value, str):
        digest.update(_go_string(value))
    elif value is True:
        digest.update(b"true")
    elif value is False:
        digest.update(b"false")
    elif value is None:
        digest.update(b"null")
    else:  # pragma: no cover - json.loads makes nothing else
        raise PolicyBundleError("bundle_malformed", "unexpected JSON value")


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                  "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _go_string(text: str) -> bytes:
    """A string as Go's ``json.Encoder`` with ``SetEscapeHTML(false)`` writes it."""
    out = ['"']
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out).encode("utf-8", "surrogatepass")


# --- verifying --------------------------------------------------------------------------------------


def verify_signed_bundle(raw: bytes, key: ECKey, *, key_id: str = DEFAULT_KEY_ID) -> VerifiedBundle:
    """The bundle, if its one JWT verifies under ``key`` (ES256 only) and lists exactly the bundle's other
    files with their hashes, and its manifest revision is the version of the policy it holds. Raises
    :class:`PolicyBundleError` otherwise, never anything else."""
    files = _read_tar_gz(raw)
    if SIGNATURES not in files:
        raise PolicyBundleError("bundle_unsigned", "the bundle has no .signatures.json")
    token = _one_token(files.pop(SIGNATURES))
    signed = _verified_payload(token, key, key_id)
    listed: dict[str, str] = {}
    for entry in signed:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "hash", "algorithm")):
            raise PolicyBundleError("bundle_signature_invalid", "a signed file entry is malformed")
        if entry["algorithm"] != _HASH:
            raise PolicyBundleError("bundle_signature_invalid", f"{entry['name']}: only SHA-256 is accepted")
        listed[entry["name"].removeprefix("/")] = entry["hash"].lower()
    for name, content in sorted(files.items()):
        if name not in listed:
            raise PolicyBundleError("bundle_file_unsigned", f"{name} is not covered by the signature")
        if opa_file_hash(name, content) != listed.pop(name):
            raise PolicyBundleError("bundle_digest_mismatch", f"{name} changed after signing")
    if listed:
        raise PolicyBundleError("bundle_file_missing", f"signed but absent: {', '.join(sorted(listed))}")
    return VerifiedBundle(raw=raw, revision=_revision(files), key_id=key_id, policy=_policy(files))


def _read_tar_gz(raw: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isreg():
                    raise PolicyBundleError("bundle_malformed", f"{member.name} is not a regular file")
                name = _safe_name(member.name)
                total += member.size
                if total > _MAX_BUNDLE_BYTES:
                    raise PolicyBundleError("bundle_too_large", "the bundle is larger than 16 MiB")
                if name in files:
                    raise PolicyBundleError("bundle_malformed", f"{name} appears twice")
                handle = tar.extractfile(member)
                files[name] = handle.read() if handle is not None else b""
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise PolicyBundleError("bundle_malformed", f"not a gzipped tar ({type(exc).__name__})") from None
    return files


def _safe_name(name: str) -> str:
    path = PurePosixPath(name.lstrip("/"))
    if not path.parts or any(part in {"", ".", ".."} for part in path.parts) or "\\" in name:
        raise PolicyBundleError("bundle_malformed", "a file name is not a plain relative path")
    return path.as_posix()


def _one_token(content: bytes) -> str:
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise PolicyBundleError("bundle_signature_invalid", ".signatures.json is not JSON") from None
    tokens = document.get("signatures") if isinstance(document, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise PolicyBundleError("bundle_signature_invalid", ".signatures.json must hold exactly one JWT")
    return tokens[0]


def _verified_payload(token: str, key: ECKey, key_id: str) -> list[Any]:
    try:
        result = jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise PolicyBundleError("bundle_signature_invalid",
                                f"the signature does not verify under policy key {key_id!r} ({type(exc).__name__})"
                                ) from None
    header = result.protected
    if header.get("alg") != ALGORITHM:
        raise PolicyBundleError("bundle_signature_invalid", "the signature is not ES256")
    if header.get("kid", key_id) != key_id:
        raise PolicyBundleError("bundle_signature_invalid", f"signed with key {header.get('kid')!r}, not {key_id!r}")
    try:
        payload = json.loads(result.payload)
    except (ValueError, UnicodeDecodeError):
        raise PolicyBundleError("bundle_signature_invalid", "the signed payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("scope", "") != "" or not isinstance(payload.get("files"), list):
        raise PolicyBundleError("bundle_signature_invalid", "the signed payload lists no files")
    files: list[Any] = payload["files"]
    return files


def _revision(files: Mapping[str, bytes]) -> str:
    try:
        manifest = json.loads(files[MANIFEST])
    except (KeyError, ValueError, UnicodeDecodeError):
        raise PolicyBundleError("bundle_malformed", "the bundle has no readable .manifest") from None
    revision = manifest.get("revision") if isinstance(manifest, dict) else None
    if not isinstance(revision, str) or not revision:
        raise PolicyBundleError("bundle_malformed", "the manifest names no revision")
    if manifest.get("roots") != list(BUNDLE_ROOTS):
        raise PolicyBundleError("bundle_malformed", f"the manifest must own exactly {list(BUNDLE_ROOTS)}")
    return revision


def _policy(files: Mapping[str, bytes]) -> PolicyBundle:
    """The policy the bundle holds; its version must be the manifest's revision and gateway_meta's."""
    revision = _revision(files)
    sources: dict[str, str] = {}
    documents: dict[str, bytes] = {}
    try:
        for name, content in files.items():
            parts = PurePosixPath(name).parts
            if name.endswith(".rego"):
                if name.endswith("_test.rego"):
                    raise PolicyBundleError("bundle_malformed", f"{name}: test modules are not shipped")
                sources[name] = content.decode("utf-8")
            elif len(parts) == 3 and parts[0] == "gateway_data" and parts[2] == _DATA_FILE:
                documents[parts[1]] = content
            elif name in {MANIFEST, f"gateway_index/{_DATA_FILE}", f"gateway_meta/{_DATA_FILE}"}:
                continue
            else:
                raise PolicyBundleError("bundle_malformed", f"{name} is not part of a gateway policy bundle")
        policy = PolicyBundle.from_sources(Path(f"<bundle {revision}>"), sources, documents)
        meta = json.loads(files[f"gateway_meta/{_DATA_FILE}"])
        index = json.loads(files[f"gateway_index/{_DATA_FILE}"])
    except PolicyBundleError:
        raise
    except (KeyError, ValueError, UnicodeDecodeError, FileNotFoundError) as exc:
        raise PolicyBundleError("bundle_malformed", f"the bundle's policy cannot be read ({type(exc).__name__})"
                                ) from None
    if policy.version != revision or meta != {"version": revision}:
        raise PolicyBundleError("bundle_revision_mismatch",
                                f"the manifest says {revision}, the policy it holds is {policy.version}")
    if index != json.loads(json.dumps(policy.index)):
        raise PolicyBundleError("bundle_revision_mismatch", "the bundle's index is not derived from its data")
    return policy
