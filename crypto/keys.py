"""Agency and gateway keys: generation, fingerprints, key files and JWKs.

Each agency holds two independent key pairs:

* an X25519 pair (``encryption``) that referral fields are sealed to, and
* an Ed25519 pair (``signing``) that it signs documents with.

The gateway holds a single Ed25519 signing seed of its own.

Fingerprints
    :func:`fingerprint` turns a public key into 32 base32 characters shown as
    eight groups of four, e.g. ``"MFRG-GZDF-..."``, meant to be read aloud
    over the phone to confirm a key out of band. The RFC 4648 base32 alphabet
    (A–Z, 2–7) has no 0/1/8/9, so O/0, I/1 and B/8 cannot be confused. The
    fingerprint covers a domain-separation label and the key *kind*, so the
    same 32 bytes read as an X25519 key and as an Ed25519 key give unrelated
    fingerprints. The construction is frozen: changing it would invalidate
    every fingerprint anyone has written down.

Key files
    JSON, mode 0600, written atomically. Public keys are stored alongside the
    private ones and checked on load, which catches corruption and files
    pasted together from different keys.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import Any, Literal

from crypto import _nacl
from crypto.encoding import b64u_decode, b64u_encode
from crypto.errors import InvalidKey

__all__ = [
    "AgencyKeyPair",
    "AgencyPublicKeys",
    "KeyKind",
    "ed25519_private_jwk",
    "ed25519_public_jwk",
    "fingerprint",
    "generate_agency_keys",
    "generate_signing_seed",
    "jwk_kid",
    "load_key_file",
    "load_signing_seed",
    "normalise_fingerprint",
    "save_key_file",
    "save_signing_seed",
    "signing_public_key",
]

KeyKind = Literal["x25519", "ed25519"]

KEY_BYTES = 32

# Frozen forever: see the module docstring.
_FINGERPRINT_LABEL = b"safe-referral-gateway/key-fingerprint/v1"
_FINGERPRINT_BYTES = 20  # 160 bits -> exactly 32 base32 characters, no padding
_FINGERPRINT_GROUP = 4
_BASE32_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

_KEYPAIR_FORMAT = "safe-referral-gateway/agency-keypair"
_SEED_FORMAT = "safe-referral-gateway/ed25519-signing-seed"
_FILE_VERSION = 1

PathLike = str | os.PathLike[str]


def _check_key_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != KEY_BYTES:
        raise InvalidKey(f"{what} must be {KEY_BYTES} bytes")
    return value


def _decode_key(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidKey(f"{what} must be a base64url string")
    try:
        raw = b64u_decode(text)
    except ValueError:
        raise InvalidKey(f"{what} is not valid base64url") from None
    return _check_key_bytes(raw, what)


# --- Fingerprints ---------------------------------------------------------------


def fingerprint(public_key: bytes, kind: KeyKind) -> str:
    """Return the human-verifiable fingerprint of a 32-byte public key.

    ``SHA-256(label || 0x00 || kind || 0x00 || key)``, truncated to 20 bytes,
    RFC 4648 base32 (32 characters, no padding), in 8 dash-separated groups of
    4. Raises :class:`InvalidKey` for a key that is not 32 bytes and
    :class:`ValueError` for an unknown ``kind``.
    """
    if kind not in ("x25519", "ed25519"):
        raise ValueError("kind must be 'x25519' or 'ed25519'")
    _check_key_bytes(public_key, "public key")
    # Fixed-length label and key, NUL-separated kind: the encoding is injective.
    digest = hashlib.sha256(_FINGERPRINT_LABEL + b"\x00" + kind.encode("ascii") + b"\x00" + public_key).digest()[
        :_FINGERPRINT_BYTES
    ]
    return _group(base64.b32encode(digest).decode("ascii"))


def _group(compact: str) -> str:
    return "-".join(compact[i : i + _FINGERPRINT_GROUP] for i in range(0, len(compact), _FINGERPRINT_GROUP))


def normalise_fingerprint(text: str) -> str:
    """Return the canonical ``XXXX-XXXX-...`` form of a fingerprint typed by a person.

    Spaces, dashes and other whitespace are ignored and letters are
    upper-cased. Raises :class:`ValueError` unless exactly 32 base32
    characters remain. Digits 0, 1, 8 and 9 are never silently "corrected":
    1 could stand for I or L, so guessing could turn a mismatch into a match.
    """
    if not isinstance(text, str):
        raise TypeError("fingerprint must be a str")
    if not text.isascii():
        # Before upper(): "ß".upper() == "SS" would conjure valid characters.
        raise ValueError("not a key fingerprint (expected 32 characters A-Z, 2-7)")
    compact = "".join(text.replace("-", " ").split()).upper()
    if len(compact) != 32 or not set(compact) <= _BASE32_ALPHABET:
        raise ValueError("not a key fingerprint (expected 32 characters A-Z, 2-7)")
    return _group(compact)


# --- Key types -------------------------------------------------------------------


@dataclass(frozen=True)
class AgencyPublicKeys:
    """An agency's public keys: X25519 ``encryption`` and Ed25519 ``signing``, 32 bytes each."""

    encryption: bytes
    signing: bytes

    def __post_init__(self) -> None:
        _check_key_bytes(self.encryption, "encryption public key")
        _check_key_bytes(self.signing, "signing public key")

    @classmethod
    def from_b64(cls, encryption: str, signing: str) -> AgencyPublicKeys:
        """Build from base64url strings; raise :class:`InvalidKey` if either is malformed."""
        return cls(
            encryption=_decode_key(encryption, "encryption public key"),
            signing=_decode_key(signing, "signing public key"),
        )

    @property
    def encryption_b64(self) -> str:
        """The X25519 public key, base64url without padding."""
        return b64u_encode(self.encryption)

    @property
    def signing_b64(self) -> str:
        """The Ed25519 public key, base64url without padding."""
        return b64u_encode(self.signing)

    def fingerprints(self) -> dict[str, str]:
        """Return ``{"encryption": <x25519 fingerprint>, "signing": <ed25519 fingerprint>}``."""
        return {
            "encryption": fingerprint(self.encryption, "x25519"),
            "signing": fingerprint(self.signing, "ed25519"),
        }


@dataclass(frozen=True, repr=False)
class AgencyKeyPair:
    """An agency's private keys: X25519 ``encryption_private`` and Ed25519 ``signing_seed``.

    ``repr()`` shows only public-key fingerprints, never private bytes, so a
    key pair that ends up in a log line or traceback does not leak. (Python
    cannot reliably wipe ``bytes`` from memory; keep key pairs short-lived.)
    """

    encryption_private: bytes
    signing_seed: bytes

    def __post_init__(self) -> None:
        _check_key_bytes(self.encryption_private, "encryption private key")
        _check_key_bytes(self.signing_seed, "signing seed")

    def public(self) -> AgencyPublicKeys:
        """Derive the matching :class:`AgencyPublicKeys`."""
        return AgencyPublicKeys(
            encryption=_nacl.x25519_public_from_private(self.encryption_private),
            signing=_nacl.ed25519_public_from_seed(self.signing_seed),
        )

    def __repr__(self) -> str:
        fps = self.public().fingerprints()
        return f"AgencyKeyPair(encryption={fps['encryption']}, signing={fps['signing']}, private=<hidden>)"

    __str__ = __repr__


def generate_agency_keys() -> AgencyKeyPair:
    """Generate a fresh agency key pair (X25519 + Ed25519) from libsodium's CSPRNG."""
    encryption_private, _ = _nacl.x25519_generate()
    return AgencyKeyPair(encryption_private=encryption_private, signing_seed=_nacl.ed25519_generate_seed())


def generate_signing_seed() -> bytes:
    """Generate a fresh 32-byte Ed25519 seed (e.g. the gateway's own signing key)."""
    return _nacl.ed25519_generate_seed()


def signing_public_key(seed: bytes) -> bytes:
    """Return the 32-byte Ed25519 public key for ``seed``; :class:`InvalidKey` if malformed."""
    return _nacl.ed25519_public_from_seed(seed)


# --- Key files ---------------------------------------------------------------------


def _move_exclusive(tmp: str, target: str) -> None:
    """Rename ``tmp`` to ``target``, failing with FileExistsError if ``target`` exists."""
    try:
        os.link(tmp, target)  # atomic, and fails if target exists
    except FileExistsError:
        raise
    except OSError:
        # Filesystem without hard links: fall back to check-then-rename. The
        # window between the two steps only matters with concurrent writers
        # of the same key file, which key management never has.
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "key file already exists", target) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def _write_private_file(path: PathLike, document: dict[str, Any], *, overwrite: bool) -> None:
    """Write ``document`` as JSON to ``path`` with mode 0600, atomically.

    The data goes to a temporary file in the same directory (created 0600 by
    mkstemp, so it is never readable by others, not even briefly), is
    fsync'ed, and is then moved into place in one step: readers see either the
    old file or the complete new one, never a torn key. Without ``overwrite``
    the final step is ``os.link`` + unlink, which fails atomically if ``path`` exists:
    overwriting a private key would make everything sealed to it unreadable.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    payload = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".key", dir=directory)
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, target)
        else:
            _move_exclusive(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Persist the directory entry too, or a crash could lose the rename.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_private_file(path: PathLike, expected_format: str) -> dict[str, Any]:
    """Read a key file, refusing ones that group or others can access."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        # fstat on the open descriptor: no window between the check and the read.
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidKey(f"key file {os.fspath(path)!r} is accessible by group/others; chmod 600 it")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(1 << 16)
    finally:
        os.close(fd)
    try:
        document = json.loads(raw)
    except ValueError:
        raise InvalidKey("key file is not valid JSON") from None
    if not isinstance(document, dict):
        raise InvalidKey("key file is not a JSON object")
    if document.get("format") != expected_format:
        raise InvalidKey(f"key file format is not {expected_format!r}")
    if document.get("version") != _FILE_VERSION:
        raise InvalidKey("unsupported key file version")
    return document


def save_key_file(path: PathLike, keypair: AgencyKeyPair, *, overwrite: bool = False) -> None:
    """Save an agency key pair to ``path`` (JSON, mode 0600, atomic).

    Raises :class:`FileExistsError` if ``path`` exists, unless ``overwrite``.
    """
    if not isinstance(keypair, AgencyKeyPair):
        raise TypeError("keypair must be an AgencyKeyPair")
    public = keypair.public()
    document = {
        "format": _KEYPAIR_FORMAT,
        "version": _FILE_VERSION,
        "encryption_private": b64u_encode(keypair.encryption_private),
        "signing_seed": b64u_encode(keypair.signing_seed),
        "encryption_public": public.encryption_b64,
        "signing_public": public.signing_b64,
    }
    _write_private_file(path, document, overwrite=overwrite)


def load_key_file(path: PathLike) -> AgencyKeyPair:
    """Load an agency key pair saved by :func:`save_key_file`.

    Raises :class:`InvalidKey` if the file is malformed, its stored public
    keys do not match its private keys, or its permissions let group/others
    access it (like OpenSSH, we refuse rather than use an exposed key).
    ``OSError`` (e.g. ``FileNotFoundError``) propagates unchanged.
    """
    document = _read_private_file(path, _KEYPAIR_FORMAT)
    keypair = AgencyKeyPair(
        encryption_private=_decode_key(document.get("encryption_private"), "encryption private key"),
        signing_seed=_decode_key(document.get("signing_seed"), "signing seed"),
    )
    stored = AgencyPublicKeys(
        encryption=_decode_key(document.get("encryption_public"), "encryption public key"),
        signing=_decode_key(document.get("signing_public"), "signing public key"),
    )
    if stored != keypair.public():
        raise InvalidKey("key file public keys do not match its private keys")
    return keypair


def save_signing_seed(path: PathLike, seed: bytes, *, overwrite: bool = False) -> None:
    """Save an Ed25519 signing seed (e.g. the gateway's) to ``path`` (JSON, mode 0600, atomic).

    Raises :class:`FileExistsError` if ``path`` exists, unless ``overwrite``.
    """
    public = signing_public_key(seed)
    document = {
        "format": _SEED_FORMAT,
        "version": _FILE_VERSION,
        "seed": b64u_encode(seed),
        "public": b64u_encode(public),
    }
    _write_private_file(path, document, overwrite=overwrite)


def load_signing_seed(path: PathLike) -> bytes:
    """Load a seed saved by :func:`save_signing_seed`; same checks as :func:`load_key_file`."""
    document = _read_private_file(path, _SEED_FORMAT)
    seed = _decode_key(document.get("seed"), "signing seed")
    if _decode_key(document.get("public"), "signing public key") != signing_public_key(seed):
        raise InvalidKey("key file public key does not match its seed")
    return seed


# --- JWK (RFC 8037) for joserfc ---------------------------------------------------------


def jwk_kid(public: bytes) -> str:
    """Return the JWK ``kid`` for an Ed25519 public key: its fingerprint without dashes.

    We use the fingerprint rather than an RFC 7638 thumbprint so that the
    ``kid`` in a JWS header is the same string operators verified by phone.
    ``kid`` is an opaque hint (RFC 7515 §4.1.4): verifiers must still pin the
    key itself.
    """
    return fingerprint(public, "ed25519").replace("-", "")


def ed25519_public_jwk(public: bytes) -> dict[str, str]:
    """Return the public OKP JWK (RFC 8037) for a 32-byte Ed25519 public key."""
    _check_key_bytes(public, "Ed25519 public key")
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64u_encode(public),
        "kid": jwk_kid(public),
        "use": "sig",
        "alg": "EdDSA",
    }


def ed25519_private_jwk(seed: bytes) -> dict[str, str]:
    """Return the private OKP JWK (RFC 8037: ``d`` is the 32-byte seed) for ``seed``.

    Treat the result as secret: it contains the private key.
    """
    public = signing_public_key(seed)
    return {**ed25519_public_jwk(public), "d": b64u_encode(seed)}
