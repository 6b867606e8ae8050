"""Where a person is placed, kept so that the policy can use it without the tables naming the shelter.

The policy needs one thing about a placement: whether the recipient of a request *is* the agency
the person is placed at (CR26: the shelter's location goes to the placement provider only, and the
NRM timers ask whether accommodation was in place). So the gateway stores a keyed reference
instead of the agency id: ``plc_`` + HMAC-SHA256 under a key derived from the gateway's seed, of the
subject id and the agency id. Without the key a copy of the database cannot tell which shelter of
the few there are (a dictionary over agency ids confirms nothing), and two people at one shelter get
unrelated references (the subject id is in the MAC). With the key, the gateway answers "is this the
placement?" for a recipient it is asked about, and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["PLACEMENT_KEY_LABEL", "is_placement", "placement_ref"]

PLACEMENT_KEY_LABEL = "subject-placement-ref"


def placement_ref(key: bytes, subject_id: str, agency_id: str) -> str:
    """The stored reference of ``agency_id`` as ``subject_id``'s placement."""
    if len(key) < 32:
        raise ValueError("a 256-bit key is needed")
    mac = hmac.new(key, b"placement\x00" + subject_id.encode() + b"\x00" + agency_id.encode(), hashlib.sha256)
    return "plc_" + mac.hexdigest()[:40]


def is_placement(key: bytes, subject_id: str, stored: str | None, agency_id: str) -> bool:
    """Whether ``agency_id`` is the placement ``stored`` refers to (constant time)."""
    if not stored:
        return False
    return hmac.compare_digest(stored, placement_ref(key, subject_id, agency_id))
