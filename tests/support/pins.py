"""Pins for tests: each agency's keys pinned as a person would after receiving its public keys.

The SDK refuses to seal to, or accept a signature from, a key it has not pinned (or seen proven
bound by the agency in the witnessed log); a test client gets the pins of the agencies it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.key_pins import KeyPins
from crypto.keys import AgencyKeyPair


def pins_for(keys: Mapping[str, AgencyKeyPair], path: Path | None = None) -> KeyPins:
    """A pin store holding both keys of every agency in ``keys`` (agency id -> its key pair)."""
    pins = KeyPins(path)
    for agency_id, pair in keys.items():
        pins.pin_public_keys(agency_id, pair.public())
    return pins
