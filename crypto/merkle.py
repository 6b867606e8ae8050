"""Merkle tree hashing and proofs per RFC 9162 (Certificate Transparency v2), over SHA-256.

The tree hashing is the one of RFC 6962 §2.1, which RFC 9162 §2.1.1 keeps
unchanged, so published CT test vectors apply. Everything here is a pure
function of its inputs, except :class:`CompactRange`, which holds O(log n)
hashes of an append-only log.

Terminology (RFC 9162 §2.1.1): leaves are ``D[0..n-1]``; ``MTH(D[n])`` is the
Merkle Tree Hash (the *root*); for ``n > 1``, ``k`` is the largest power of
two smaller than ``n`` and ``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.
Leaf hashes are ``HASH(0x00 || d)``. The distinct one-byte prefixes make a
leaf hash and an interior-node hash unequal even when the hashed bytes
coincide, which defeats second-preimage attacks that pass off an interior
node as a leaf.

All functions take and return *hashes* (32-byte ``bytes``): callers hash
their log entries with :func:`leaf_hash` first. Leaf indices are 0-based.

Implementation note: instead of the recursive definition we build trees
level by level, pairing neighbours left to right and carrying an unpaired
last node up unchanged. For RFC 6962/9162 trees the two constructions give
identical hashes (the left subtree of every node is perfect), and the
iterative one is fast and never recurses per leaf.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

__all__ = [
    "HASH_SIZE",
    "CompactRange",
    "consistency_proof",
    "empty_root",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "node_hash_unchecked",
    "parent_level",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_EMPTY_ROOT = hashlib.sha256(b"").digest()


def node_hash_unchecked(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` without checking the lengths: the one definition of a node hash.

    For inner loops and for values read from storage, where a child of the wrong length must
    give a hash that matches no honest node (and the mismatch is reported) instead of raising.
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()



def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_hash(value: object, what: str) -> bytes:
    if not _is_hash(value):
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")
    assert isinstance(value, bytes)
    return value


def _check_hashes(values: Iterable[object], what: str = "leaf hash") -> list[bytes]:
    out = list(values)
    for value in out:
        _check_hash(value, what)
    return out  # type: ignore[return-value]


def _check_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int")
    return value


def leaf_hash(data: bytes) -> bytes:
    """Return the leaf hash ``SHA-256(0x00 || data)`` (RFC 9162 §2.1.1)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("data must be bytes")
    return hashlib.sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the interior-node hash ``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    return node_hash_unchecked(_check_hash(left, "left"), _check_hash(right, "right"))


def empty_root() -> bytes:
    """Return the root of the empty tree, ``MTH({}) = SHA-256("")`` (RFC 9162 §2.1.1)."""
    return _EMPTY_ROOT


def parent_level(level: Sequence[bytes]) -> list[bytes]:
    """The node hashes of neighbouring pairs, left to right; an unpaired last node is dropped.

    One level up of a tree built level by level (unchecked, like :func:`node_hash_unchecked`):
    a caller that wants RFC 9162's carried right-most node adds it itself.
    """
    # zip(it, it) walks the list two at a time; strict=False drops an odd last node.
    pairs = iter(level)
    node = node_hash_unchecked
    return [node(a, b) for a, b in zip(pairs, pairs, strict=False)]


def _next_level(level: list[bytes]) -> list[bytes]:
    parents = parent_level(level)
    if len(level) % 2:
        parents.append(level[-1])  # unpaired right-most node moves up as is
    return parents


def _mth(level: list[bytes]) -> bytes:
    if not level:
        return _EMPTY_ROOT
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash ``MTH(D[n])`` of ``leaf_hashes`` (RFC 9162 §2.1.1).

    O(n) hashing, O(n) memory, no recursion. Raises :class:`ValueError` if an
    element is not a 32-byte hash.
    """
    return _mth(_check_hashes(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return the inclusion proof ``PATH(index, D[n])`` (RFC 9162 §2.1.3.1).

    The audit path lists sibling hashes from the leaf upwards. Raises
    :class:`IndexError` unless ``0 <= index < len(leaf_hashes)``.
    """
    level = _check_hashes(leaf_hashes)
    index = _check_size(index, "index")
    if not 0 <= index < len(level):
        raise IndexError("leaf index out of range")
    path: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        # A node with no right sibling is carried up: it contributes nothing
        # to the path at this level.
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
        level = _next_level(level)
    return path


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Return whether ``proof`` puts ``leaf_hash`` at ``index`` of the ``tree_size`` tree with ``root``.

    Implements the verification algorithm of RFC 9162 §2.1.3.2 literally.
    Returns ``False`` (never raises) for any mismatch or malformed hash;
    raises :class:`TypeError` only if ``index``/``tree_size`` are not ints.
    """
    index = _check_size(index, "index")
    tree_size = _check_size(tree_size, "tree_size")
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    # Step 1.
    if index < 0 or index >= tree_size:
        return False
    # Steps 2-3.
    fn, sn, r = index, tree_size - 1, leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:  # 4a: proof longer than the path
            return False
        if fn & 1 or fn == sn:  # 4b
            r = node_hash_unchecked(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash_unchecked(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5: sn == 0 also rejects proofs shorter than the path.
    return sn == 0 and hmac.compare_digest(r, root)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return the consistency proof ``PROOF(m, D[n])`` for ``m = old_size`` (RFC 9162 §2.1.4.1).

    Proves that the tree of the first ``old_size`` leaves is a prefix of the
    tree of all ``len(leaf_hashes)`` leaves. Empty when ``old_size`` is 0 or
    ``n`` (nothing to prove). Raises :class:`ValueError` unless
    ``0 <= old_size <= n``.
    """
    leaves = _check_hashes(leaf_hashes)
    m = _check_size(old_size, "old_size")
    if not 0 <= m <= len(leaves):
        raise ValueError("old_size must be between 0 and the number of leaves")
    if m in (0, len(leaves)):
        return []
    # SUBPROOF(m, D[lo:hi], b), unrolled into a loop: each step appends the
    # sibling subtree hash *after* the inner subproof, so we collect them
    # outermost-first and reverse at the end.
    outer_first: list[bytes] = []
    lo, hi, complete = 0, len(leaves), True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                outer_first.append(_mth(leaves[lo:hi]))
            break
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
        if m <= k:
            outer_first.append(_mth(leaves[lo + k : hi]))
            hi = lo + k
        else:
            outer_first.append(_mth(leaves[lo : lo + k]))
            lo += k
            m -= k
            complete = False
    outer_first.reverse()
    return outer_first


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Return whether ``proof`` shows tree (old_size, old_root) is a prefix of (new_size, new_root).

    Implements RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Edge cases,
    which the RFC leaves to the implementation:

    * ``old_size == new_size``: valid iff the proof is empty and the roots match;
    * ``old_size == 0``: valid iff the proof is empty and ``old_root`` is
      :func:`empty_root` (every tree extends the empty one);
    * ``old_size > new_size`` or negative sizes: invalid.

    Returns ``False`` (never raises) for malformed hashes; raises
    :class:`TypeError` only if the sizes are not ints.
    """
    first = _check_size(old_size, "old_size")
    second = _check_size(new_size, "new_size")
    if not (_is_hash(old_root) and _is_hash(new_root) and all(_is_hash(c) for c in proof)):
        return False
    if first < 0 or first > second:
        return False
    if first == second:
        return len(proof) == 0 and hmac.compare_digest(old_root, new_root)
    if first == 0:
        return len(proof) == 0 and hmac.compare_digest(old_root, _EMPTY_ROOT)
    # Step 1.
    if not proof:
        return False
    path = list(proof)
    # Step 2: if first is an exact power of two, the old root is itself a node
    # of the new tree and is not repeated in the proof.
    if first & (first - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = first - 1, second - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash_unchecked(c, fr)
            sr = node_hash_unchecked(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash_unchecked(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)


class CompactRange:
    """The right frontier of an append-only Merkle tree (a "compact range" / Merkle frontier).

    Holds one hash per set bit of :attr:`size`, i.e. the roots of the perfect
    subtrees the leaves decompose into, largest (left-most) first. Appending
    is amortised O(1) (on average one interior hash per leaf), memory and
    :meth:`root` are O(log n). The same perfect-subtree decomposition
    underlies RFC 9162's proofs, and :meth:`root` equals :func:`root` over
    all appended leaf hashes.

    Persist it with ``(cr.size, cr.to_list())`` and restore it with
    ``CompactRange.from_list(nodes, size)``.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._nodes: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Append one 32-byte leaf hash (amortised O(1))."""
        nodes = self._nodes
        nodes.append(_check_hash(leaf_hash, "leaf hash"))
        # Each trailing 1-bit of the old size is a perfect subtree of the same
        # height as the one just completed: merge them, like a binary carry.
        carry = self._size
        while carry & 1:
            right = nodes.pop()
            nodes[-1] = node_hash_unchecked(nodes[-1], right)
            carry >>= 1
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for value in leaf_hashes:
            self.append(value)

    def root(self) -> bytes:
        """Return ``MTH`` of all leaves appended so far (O(log n)); :func:`empty_root` if none."""
        if not self._nodes:
            return _EMPTY_ROOT
        # Fold right to left: the smallest subtree is the deepest right child.
        result = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            result = node_hash_unchecked(left, result)
        return result

    def to_list(self) -> list[bytes]:
        """Return a copy of the frontier hashes, largest subtree first (``size.bit_count()`` of them)."""
        return list(self._nodes)

    @classmethod
    def from_list(cls, nodes: Sequence[bytes], size: int) -> CompactRange:
        """Rebuild a range from :meth:`to_list` output and its :attr:`size`.

        Raises :class:`ValueError` if ``len(nodes) != size.bit_count()`` or a
        node is not a 32-byte hash.
        """
        size = _check_size(size, "size")
        checked = _check_hashes(nodes, "node hash")
        if size < 0 or len(checked) != size.bit_count():
            raise ValueError("number of nodes does not match size")
        new = cls()
        new._size = size
        new._nodes = checked
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
