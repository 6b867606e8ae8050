"""Secret hashing (Argon2id via argon2-cffi) and human-typable random codes.

:class:`SecretHasher` stores secrets such as access codes and passwords. Its
cost parameters are explicit constructor arguments, so that deployments (and
tests) choose them deliberately; hashes record their own parameters, so old
hashes keep verifying after the defaults change, and :meth:`SecretHasher.needs_rehash`
tells you when to upgrade one at the next successful login.

Secrets are Unicode-normalised (NFKC) before hashing, as NIST SP 800-63B
§5.1.1.2 recommends, so the same password typed on different keyboards
(composed vs decomposed accents) verifies. This is part of the stored-hash
format: do not change it without a migration.
"""

from __future__ import annotations

import secrets
import unicodedata

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from crypto import _nacl
from crypto.encoding import b64u_encode

__all__ = ["CODE_ALPHABET", "SecretHasher", "normalise_code", "random_code", "random_token"]

#: Digits and capitals minus the look-alikes 0/O, 1/I/L: 31 symbols, ~4.95 bits each.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class SecretHasher:
    """Argon2id hasher with explicit cost parameters.

    :param time_cost: number of passes (t), >= 1.
    :param memory_cost: memory in KiB (m), >= 8 * parallelism.
    :param parallelism: lanes (p), >= 1.

    The defaults (t=3, m=64 MiB, p=1) follow RFC 9106 §4's second recommended
    option. Tests may build a cheap instance, e.g. ``SecretHasher(1, 8, 1)``.
    """

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 1) -> None:
        params = {"time_cost": time_cost, "memory_cost": memory_cost, "parallelism": parallelism}
        for name, value in params.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int")
        if time_cost < 1 or parallelism < 1 or memory_cost < 8 * parallelism:
            raise ValueError("need time_cost >= 1, parallelism >= 1, memory_cost >= 8 * parallelism")
        self.time_cost = time_cost
        self.memory_cost = memory_cost
        self.parallelism = parallelism
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )

    def __repr__(self) -> str:
        return (
            f"SecretHasher(time_cost={self.time_cost}, memory_cost={self.memory_cost}, parallelism={self.parallelism})"
        )

    @staticmethod
    def _prepare(secret: str) -> str:
        if not isinstance(secret, str):
            raise TypeError("secret must be a str")
        return unicodedata.normalize("NFKC", secret)

    def hash(self, secret: str) -> str:
        """Return an encoded Argon2id hash (``$argon2id$v=19$m=...``) of ``secret`` with a random salt."""
        return self._hasher.hash(self._prepare(secret))

    def verify(self, stored: str, secret: str) -> bool:
        """Return whether ``secret`` matches the ``stored`` hash (constant-time comparison).

        Returns ``False`` for a wrong secret, never raises for one. A ``stored``
        value that is not an Argon2 hash at all is a data error and raises
        :class:`ValueError`.
        """
        try:
            return bool(self._hasher.verify(stored, self._prepare(secret)))
        except VerificationError:  # includes VerifyMismatchError
            return False
        except InvalidHashError:
            raise ValueError("stored value is not an Argon2 hash") from None

    def needs_rehash(self, stored: str) -> bool:
        """Return whether ``stored`` was made with other parameters (or type) than this hasher's."""
        try:
            return bool(self._hasher.check_needs_rehash(stored))
        except (InvalidHashError, ValueError):
            raise ValueError("stored value is not an Argon2 hash") from None


def random_code(groups: int = 3, group_len: int = 4) -> str:
    """Return a random access code like ``"K7QM-4TZX-9HCP"`` from :data:`CODE_ALPHABET`.

    Drawn with :mod:`secrets` (uniform, no modulo bias). The default 12
    symbols carry ~59 bits: store only a :class:`SecretHasher` hash of it and
    rate-limit attempts. Compare user input via :func:`normalise_code`.
    """
    if groups < 1 or group_len < 1:
        raise ValueError("groups and group_len must be >= 1")
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(group_len)) for _ in range(groups))


def normalise_code(text: str, group_len: int = 4) -> str:
    """Normalise a code typed by a person into the form :func:`random_code` produced.

    Whitespace and dashes are ignored and letters upper-cased. Raises
    :class:`ValueError` for characters outside :data:`CODE_ALPHABET` or an
    empty code; the caller still has to check the length it expects.
    """
    if not isinstance(text, str):
        raise TypeError("code must be a str")
    if not text.isascii():
        raise ValueError("code contains characters that are not in the code alphabet")
    compact = "".join(text.replace("-", " ").split()).upper()
    if not compact or any(ch not in CODE_ALPHABET for ch in compact):
        raise ValueError("code contains characters that are not in the code alphabet")
    return "-".join(compact[i : i + group_len] for i in range(0, len(compact), group_len))


def random_token(nbytes: int = 32) -> str:
    """Return ``nbytes`` (>= 16) random bytes from libsodium, base64url-encoded without padding."""
    if nbytes < 16:
        raise ValueError("tokens need at least 16 bytes (128 bits)")
    return b64u_encode(_nacl.random_bytes(nbytes))
