"""C2SP signed notes, tlog checkpoints and tlog cosignatures (Ed25519 only).

The formats are those of c2sp.org/signed-note, c2sp.org/tlog-checkpoint and
c2sp.org/tlog-cosignature (cosignature/v1), so any witness or client written to those
specifications can read what the gateway publishes. A checkpoint note looks like::

    gateway.example/audit
    20852163
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

    — gateway.example/audit Az3grlgt...
    — monitoring.example/witness jWbPPwAAAABkGFDL...

* the *body* is the origin line, the tree size in decimal, the standard-base64 root hash
  (RFC 9162, as :mod:`crypto.merkle` computes it) and optional extension lines, each
  ending in a newline;
* a signature line is an em dash, a space, the key name, a space and
  ``base64(4-byte key id || signature)``;
* the log signs the body with Ed25519 (signature type ``0x01``); a witness cosigns
  ``"cosignature/v1\\ntime <t>\\n" || body`` and its signature is ``u64 t || Ed25519``
  (signature type ``0x04``);
* key id = ``SHA-256(name || 0x0A || type || public key)[:4]``.

Keys are exchanged as *verifier keys* (``vkey``): ``<name>+<key id hex>+<base64(type ||
public key)>``, the text form Go's ``golang.org/x/mod/sumdb/note`` uses.

Pure functions; verification never raises for a bad signature, it says which verified.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crypto import _nacl
from crypto.errors import InvalidKey

__all__ = [
    "COSIGNATURE",
    "ED25519",
    "Checkpoint",
    "Note",
    "NoteSignature",
    "Verifier",
    "cosign",
    "cosignature_timestamp",
    "parse_checkpoint",
    "parse_note",
    "sign_note",
    "signer_verifier",
    "verified_cosigners",
    "verifies",
]

ED25519 = 0x01
COSIGNATURE = 0x04
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 32
_EM_DASH = "\u2014"
_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_COSIGNATURE_HEADER = "cosignature/v1\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("invalid base64") from None
    if _b64(data) != text:
        raise ValueError("non-canonical base64")
    return data


def _key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("a key name is non-empty, without spaces or '+'")
    return name


@dataclass(frozen=True)
class Verifier:
    """A public key that may sign (``ED25519``) or cosign (``COSIGNATURE``) notes, under a name."""

    name: str
    kind: int
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.kind not in (ED25519, COSIGNATURE):
            raise ValueError("unsupported signature type")
        if len(self.public_key) != 32:
            raise InvalidKey("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.kind, self.public_key)

    def vkey(self) -> str:
        """The text form to hand out: ``name+keyid+base64(type || key)``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.kind]) + self.public_key)}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse a vkey; :class:`ValueError` if malformed or if the key id does not match."""
        parts = vkey.strip().split("+", 2)  # the base64 key may itself contain '+'
        if len(parts) != 3:
            raise ValueError("a vkey is name+keyid+key")
        name, hex_id, material = parts
        raw = _unb64(material)
        if len(raw) != 33:
            raise ValueError("a vkey holds a type byte and a 32-byte key")
        verifier = cls(name=_check_name(name), kind=raw[0], public_key=raw[1:])
        if verifier.key_id.hex() != hex_id.lower():
            raise ValueError("the vkey's key id does not match its key")
        return verifier


def signer_verifier(name: str, seed: bytes, kind: int = ED25519) -> Verifier:
    """The verifier key of the Ed25519 ``seed`` under ``name``."""
    return Verifier(name=name, kind=kind, public_key=_nacl.ed25519_public_from_seed(seed))


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes
    """The signature bytes after the key id (for a cosignature: the u64 timestamp, then Ed25519)."""

    def line(self) -> str:
        return f"{_EM_DASH} {self.name} {_b64(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    text: str
    """The signed text, ending in a newline."""
    signatures: tuple[NoteSignature, ...] = ()

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """This note with ``extra`` signatures appended (a duplicate name and key id is kept once)."""
        seen = {(s.name, s.key_id) for s in self.signatures}
        added = [s for s in extra if (s.name, s.key_id) not in seen]
        return Note(self.text, self.signatures + tuple(added))


def parse_note(data: str) -> Note:
    """Parse a signed note strictly; :class:`ValueError` on anything malformed."""
    if not isinstance(data, str) or len(data.encode()) > MAX_NOTE_BYTES:
        raise ValueError("a note is text of at most 64 KiB")
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise ValueError("a note contains no control characters but newline")
    split = data.rfind("\n\n")
    if split < 0 or not data.endswith("\n"):
        raise ValueError("a note is text, a blank line and signature lines")
    text, block = data[: split + 1], data[split + 2:]
    signatures: list[NoteSignature] = []
    for line in block.splitlines():
        if not line.startswith(_EM_DASH + " "):
            raise ValueError("a signature line starts with an em dash")
        parts = line[2:].split(" ")
        if len(parts) != 2:
            raise ValueError("a signature line is '— name signature'")
        raw = _unb64(parts[1])
        if len(raw) < 5:
            raise ValueError("a signature is a key id and signature bytes")
        signatures.append(NoteSignature(name=_check_name(parts[0]), key_id=raw[:4], signature=raw[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise ValueError("a note has between 1 and 32 signatures")
    return Note(text=text, signatures=tuple(signatures))


def sign_note(text: str, name: str, seed: bytes) -> NoteSignature:
    """The Ed25519 (type 0x01) signature of ``text`` by ``seed`` under ``name``."""
    verifier = signer_verifier(name, seed)
    return NoteSignature(name=name, key_id=verifier.key_id, signature=_nacl.ed25519_sign(seed, text.encode()))


def _matching(note: Note, verifier: Verifier) -> list[NoteSignature]:
    return [s for s in note.signatures if s.name == verifier.name and s.key_id == verifier.key_id]


def _ed25519_ok(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _nacl.ed25519_verify(public, message, signature)
    except Exception:
        return False
    return True


def verifies(note: Note, verifier: Verifier) -> bool:
    """Whether ``note`` carries a valid Ed25519 signature by ``verifier`` (and none by it that fails)."""
    if verifier.kind != ED25519:
        return False
    found = _matching(note, verifier)
    return bool(found) and all(_ed25519_ok(verifier.public_key, note.text.encode(), s.signature) for s in found)


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def cosign(text: str, name: str, seed: bytes, *, timestamp: int) -> NoteSignature:
    """A tlog-cosignature/v1 of the checkpoint ``text`` at POSIX ``timestamp``."""
    if not 0 <= timestamp < 2**63:
        raise ValueError("timestamp out of range")
    verifier = signer_verifier(name, seed, COSIGNATURE)
    signature = _nacl.ed25519_sign(seed, _cosigned_message(text, timestamp))
    return NoteSignature(name=name, key_id=verifier.key_id, signature=timestamp.to_bytes(8, "big") + signature)


def cosignature_timestamp(note: Note, verifier: Verifier) -> int | None:
    """The time of ``verifier``'s valid cosignature on ``note``, or None if it has none that verifies."""
    if verifier.kind != COSIGNATURE:
        return None
    found = _matching(note, verifier)
    if not found:
        return None
    stamp: int | None = None
    for sig in found:
        if len(sig.signature) != 72:
            return None
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp >= 2**63 or not _ed25519_ok(verifier.public_key, _cosigned_message(note.text, timestamp),
                                                 sig.signature[8:]):
            return None
        stamp = timestamp
    return stamp


def verified_cosigners(note: Note, witnesses: Sequence[Verifier]) -> list[Verifier]:
    """The witnesses among ``witnesses`` whose cosignature on ``note`` verifies."""
    return [w for w in witnesses if cosignature_timestamp(note, w) is not None]


@dataclass(frozen=True)
class Checkpoint:
    """A c2sp.org/tlog-checkpoint body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @property
    def root_hex(self) -> str:
        return self.root.hex()


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (a note's text); :class:`ValueError` if malformed."""
    if not text.endswith("\n"):
        raise ValueError("a checkpoint ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or any(not line for line in lines[3:]):
        raise ValueError("a checkpoint is origin, size and root hash lines")
    if not _SIZE.fullmatch(lines[1]):
        raise ValueError("the tree size is a decimal without leading zeros")
    root = _unb64(lines[2])
    if len(root) != 32:
        raise ValueError("the root hash is 32 bytes")
    return Checkpoint(origin=lines[0], size=int(lines[1]), root=root, extensions=tuple(lines[3:]))
