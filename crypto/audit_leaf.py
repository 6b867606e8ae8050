"""The audit log's leaf encoding, defined once for the gateway's log, its verifier and the SDK.

An audit entry is published as a JSON document (its fields, without its ``leaf_hash``); its
leaf in the log's RFC 9162 Merkle tree is ``SHA-256(0x00 || canonical JSON of the document)``,
with RFC 8785 canonical JSON (:mod:`crypto.canonical`) and the leaf hash of :mod:`crypto.merkle`.
The gateway writes leaves with it, its verifier checks stored entries against it (its fast
paths are only ever trusted when they agree with it), and an agency's SDK recomputes the leaf
of an entry the API returned before checking its inclusion proof.
"""

from __future__ import annotations

from collections.abc import Mapping

from crypto.canonical import canonical_json
from crypto.merkle import leaf_hash

__all__ = ["entry_leaf_data", "entry_leaf_hash"]


def entry_leaf_data(document: Mapping[str, object]) -> bytes:
    """The bytes a leaf hashes (after its ``0x00``): the document's canonical JSON.

    Raises :class:`TypeError`/:class:`ValueError` for a document that is not canonical JSON
    (see :func:`crypto.canonical.canonical_json`).
    """
    return canonical_json(document)


def entry_leaf_hash(document: Mapping[str, object]) -> bytes:
    """The 32-byte leaf hash of an audit entry document."""
    return leaf_hash(entry_leaf_data(document))
