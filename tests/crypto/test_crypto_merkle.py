"""RFC 9162 / RFC 6962 Merkle trees: published vectors, exhaustive small trees, properties.

Known-answer vectors are the Certificate Transparency reference tree of eight
leaves, copied from:

* google/certificate-transparency, ``cpp/merkletree/merkle_tree_test.cc``
  (commit 0e901cacd1388fa16f78b184612f6cd16e5ceec1): ``kInputs``,
  ``kSHA256Roots``, ``kSHA256Paths`` and ``kSHA256Proofs``;
* transparency-dev/merkle, ``proof/verify_test.go``
  (commit 02194e9afb6c1d95b5381350007963aa70fff472): the same vectors plus the
  6 -> 7 consistency proof.

Those sources number leaves from 1 in their path vectors; our API is 0-based.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.merkle import (
    CompactRange,
    consistency_proof,
    empty_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

INPUTS = [
    b"",
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAVES = [leaf_hash(d) for d in INPUTS]

EMPTY_TREE_HASH = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

# kSHA256Roots: root of the tree of the first i + 1 inputs.
ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# kSHA256Paths as (0-based leaf index, tree size, audit path).
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# kSHA256Proofs / consistencyProofs as (old size, new size, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


# --- a literal transcription of RFC 9162 §2.1, used as an independent reference -----------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # already a leaf hash
    k = _split(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- hashing primitives -------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_the_empty_string() -> None:
    assert empty_root() == EMPTY_TREE_HASH
    assert root([]) == EMPTY_TREE_HASH
    assert CompactRange().root() == EMPTY_TREE_HASH


def test_leaf_and_node_hashes_use_domain_separation_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"l"), leaf_hash(b"r")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_node_hash_requires_32_byte_children() -> None:
    with pytest.raises(ValueError):
        node_hash(b"short", leaf_hash(b"r"))
    with pytest.raises(ValueError):
        root([b"short"])


def test_a_leaf_whose_data_is_two_child_hashes_does_not_collide_with_their_parent() -> None:
    # Second-preimage attack: present an interior node's preimage (left || right)
    # as leaf data. The 0x00 / 0x01 prefixes keep the hashes apart.
    left, right = LEAVES[0], LEAVES[1]
    parent = node_hash(left, right)
    forged_leaf = leaf_hash(left + right)
    assert forged_leaf != parent
    assert root([forged_leaf]) != root([left, right]) == ROOTS[1]
    # The attack in proof form: claim data left || right is a leaf of the tree. The
    # verifier hashes the claimed data as a leaf, so the shortened proof that would
    # fit the interior node does not verify - at the real size or at a lied-about one.
    four = LEAVES[:4]
    short_proof = inclusion_proof(four, 0)[1:]
    assert verify_inclusion(parent, 0, 2, short_proof, root(four))  # the node itself does fit...
    assert not verify_inclusion(forged_leaf, 0, 2, short_proof, root(four))  # ...its "data" does not
    assert not verify_inclusion(forged_leaf, 0, 4, short_proof, root(four))
    assert not verify_inclusion(parent, 0, 4, short_proof, root(four))


# --- published vectors ---------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_published_rfc6962_vectors(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size - 1]
    compact = CompactRange()
    compact.extend(LEAVES[:size])
    assert compact.root() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_published_vectors(index: int, size: int, path: list[bytes]) -> None:
    assert inclusion_proof(LEAVES[:size], index) == path
    assert verify_inclusion(LEAVES[index], index, size, path, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_published_vectors(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAVES[:new], old) == proof
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


# --- inclusion proofs, exhaustively for small trees ------------------------------------------

TREE_64 = leaves(64)


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_of_trees_up_to_64_leaves_verifies(size: int) -> None:
    tree = TREE_64[:size]
    tree_root = root(tree)
    assert tree_root == ref_mth(tree)
    for index in range(size):
        proof = inclusion_proof(tree, index)
        assert proof == ref_path(index, tree)
        assert verify_inclusion(tree[index], index, size, proof, tree_root)


@pytest.mark.parametrize("size", range(1, 65))
def test_every_single_bit_mutation_of_proof_index_or_root_fails(size: int) -> None:
    tree = TREE_64[:size]
    tree_root = root(tree)
    for index in range(size):
        leaf, proof = tree[index], inclusion_proof(tree, index)
        for element in range(len(proof)):
            for bit in range(256):
                mutated = [*proof]
                mutated[element] = flip(proof[element], bit)
                assert not verify_inclusion(leaf, index, size, mutated, tree_root)
        for bit in range(256):
            assert not verify_inclusion(leaf, index, size, proof, flip(tree_root, bit))
        for bit in range(0, 256, 29):  # the leaf hash too (sampled: it is not a proof input)
            assert not verify_inclusion(flip(leaf, bit), index, size, proof, tree_root)
        for bit in range(64):
            assert not verify_inclusion(leaf, index ^ (1 << bit), size, proof, tree_root)
        # (tree_size is not in this list on purpose: e.g. leaf 0 has the same path shape
        # in trees of 5 and 7 leaves. The size is bound to the root by the signed tree
        # head, not by the proof; see the size * 2 and size // 2 probes below.)


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 8), (5, 8), (2, 3), (1, 5), (6, 7), (12, 13)])
def test_inclusion_proofs_with_elements_added_removed_or_swapped_fail(index: int, size: int) -> None:
    tree = LEAVES + leaves(8)
    tree = tree[:size]
    proof, tree_root = inclusion_proof(tree, index), root(tree)
    leaf = tree[index]
    bad_proofs = [
        [*proof, b""],
        [*proof, tree_root],
        [b"", *proof],
        [tree_root, *proof],
        [*proof, EMPTY_TREE_HASH],
    ]
    if proof:
        bad_proofs += [proof[:-1], proof[1:], [*proof[:-1], EMPTY_TREE_HASH]]
    if len(proof) > 1:
        bad_proofs += [[proof[1], proof[0], *proof[2:]], [proof[0], EMPTY_TREE_HASH, *proof[1:]]]
    for bad in bad_proofs:
        assert not verify_inclusion(leaf, index, size, bad, tree_root)
    for bad_index, bad_size in [(index - 1, size), (index + 1, size), (index, size * 2), (index, size // 2)]:
        assert not verify_inclusion(leaf, bad_index, bad_size, proof, tree_root)


def test_inclusion_verification_rejects_impossible_positions() -> None:
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_TREE_HASH)
    assert not verify_inclusion(LEAVES[0], 1, 1, [], LEAVES[0])
    assert not verify_inclusion(LEAVES[0], -1, 1, [], LEAVES[0])
    assert not verify_inclusion(b"", 0, 1, [], b"")
    assert not verify_inclusion(LEAVES[0], 0, 1, [], b"")
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])


def test_inclusion_proof_rejects_out_of_range_indices() -> None:
    with pytest.raises(IndexError):
        inclusion_proof(LEAVES, 8)
    with pytest.raises(IndexError):
        inclusion_proof(LEAVES, -1)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)


# --- consistency proofs, exhaustively for small trees -----------------------------------------

TREE_40 = leaves(40)
ROOTS_40 = [root(TREE_40[:n]) for n in range(41)]


@pytest.mark.parametrize("new", range(1, 41))
def test_consistency_proofs_verify_for_all_sizes_up_to_40(new: int) -> None:
    tree = TREE_40[:new]
    for old in range(1, new + 1):
        proof = consistency_proof(tree, old)
        assert proof == ref_subproof(old, tree, True)
        assert verify_consistency(old, new, ROOTS_40[old], ROOTS_40[new], proof)


@pytest.mark.parametrize("new", range(2, 41))
def test_consistency_proofs_fail_when_any_old_leaf_is_changed(new: int) -> None:
    tree = TREE_40[:new]
    for old in range(1, new):
        proof = consistency_proof(tree, old)
        for changed in range(old):
            rewritten = [*tree[:old]]
            rewritten[changed] = leaf_hash(b"rewritten history")
            assert not verify_consistency(old, new, root(rewritten), ROOTS_40[new], proof)
            # Nor does a proof computed over the rewritten log match the real new root.
            forged = consistency_proof([*rewritten, *tree[old:]], old)
            assert not verify_consistency(old, new, root(rewritten), ROOTS_40[new], forged)


@pytest.mark.parametrize("new", range(2, 41))
def test_consistency_proofs_fail_on_any_single_bit_mutation_or_wrong_size(new: int) -> None:
    tree = TREE_40[:new]
    for old in range(1, new):
        proof = consistency_proof(tree, old)
        old_root, new_root = ROOTS_40[old], ROOTS_40[new]
        for element in range(len(proof)):
            for bit in range(0, 256, 17):
                mutated = [*proof]
                mutated[element] = flip(proof[element], bit)
                assert not verify_consistency(old, new, old_root, new_root, mutated)
        for bit in range(0, 256, 17):
            assert not verify_consistency(old, new, flip(old_root, bit), new_root, proof)
            assert not verify_consistency(old, new, old_root, flip(new_root, bit), proof)
        for bad_old, bad_new in [
            (old - 1, new),
            (old + 1, new),
            (old ^ 2, new),
            (old, new * 2),
            (old, new // 2),
        ]:
            if (bad_old, bad_new) != (old, new):
                assert not verify_consistency(bad_old, bad_new, old_root, new_root, proof)
        bad_proofs = [[], [*proof, b""], [*proof, old_root], [*proof, new_root], [b"", *proof]]
        bad_proofs += [[old_root, *proof], [new_root, *proof], [proof[0], *proof], proof[:-1]]
        for bad in bad_proofs:
            assert not verify_consistency(old, new, old_root, new_root, bad)
        assert not verify_consistency(old, new, new_root, old_root, proof)


def test_consistency_edge_cases() -> None:
    some = LEAVES[0]
    # Equal sizes: only the empty proof between equal roots.
    assert verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[2], ROOTS[2], [some])
    # Every tree extends the empty tree, whose root must be the empty-tree hash.
    assert verify_consistency(0, 5, EMPTY_TREE_HASH, ROOTS[4], [])
    assert verify_consistency(0, 0, EMPTY_TREE_HASH, EMPTY_TREE_HASH, [])
    assert not verify_consistency(0, 5, some, ROOTS[4], [])
    assert not verify_consistency(0, 5, EMPTY_TREE_HASH, ROOTS[4], [some])
    # Time travel, negative sizes and empty proofs for real growth.
    assert not verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])
    assert not verify_consistency(-1, 1, ROOTS[0], ROOTS[0], [])
    assert not verify_consistency(1, 2, ROOTS[0], ROOTS[1], [])
    # Malformed hashes are simply "not verified".
    assert not verify_consistency(1, 8, b"short", ROOTS[7], CONSISTENCY_VECTORS[1][2])


def test_consistency_proof_rejects_impossible_sizes() -> None:
    assert consistency_proof(LEAVES, 0) == []
    assert consistency_proof(LEAVES, 8) == []
    with pytest.raises(ValueError):
        consistency_proof(LEAVES, 9)
    with pytest.raises(ValueError):
        consistency_proof(LEAVES, -1)


# --- CompactRange ----------------------------------------------------------------------------


def test_compact_range_grows_through_the_published_roots() -> None:
    compact = CompactRange()
    for size, leaf in enumerate(LEAVES, start=1):
        compact.append(leaf)
        assert compact.size == size
        assert compact.root() == ROOTS[size - 1]
        assert len(compact.to_list()) == size.bit_count()


hashes = st.binary(min_size=32, max_size=32)


@settings(max_examples=200)
@given(st.lists(hashes, max_size=300))
def test_compact_range_root_equals_the_tree_root(leaf_hashes: list[bytes]) -> None:
    compact = CompactRange()
    compact.extend(leaf_hashes)
    assert compact.size == len(leaf_hashes)
    assert compact.root() == root(leaf_hashes)


@settings(max_examples=100)
@given(st.lists(hashes, min_size=1, max_size=200), st.data())
def test_compact_range_survives_persistence_mid_stream(leaf_hashes: list[bytes], data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(leaf_hashes)))
    first = CompactRange()
    first.extend(leaf_hashes[:cut])
    restored = CompactRange.from_list(first.to_list(), first.size)
    assert restored == first
    restored.extend(leaf_hashes[cut:])
    assert restored.root() == root(leaf_hashes)


@settings(max_examples=100)
@given(st.lists(hashes, min_size=1, max_size=200), st.data())
def test_random_trees_prove_inclusion_and_consistency(leaf_hashes: list[bytes], data: st.DataObject) -> None:
    n = len(leaf_hashes)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    old = data.draw(st.integers(min_value=0, max_value=n))
    tree_root = root(leaf_hashes)
    assert verify_inclusion(leaf_hashes[index], index, n, inclusion_proof(leaf_hashes, index), tree_root)
    old_root = root(leaf_hashes[:old])
    assert verify_consistency(old, n, old_root, tree_root, consistency_proof(leaf_hashes, old))


def test_compact_range_from_list_validates_its_input() -> None:
    nodes = [LEAVES[0], LEAVES[1]]
    assert CompactRange.from_list(nodes, 3).size == 3
    with pytest.raises(ValueError):
        CompactRange.from_list(nodes, 4)  # 4 = one perfect subtree, not two
    with pytest.raises(ValueError):
        CompactRange.from_list([b"short"], 1)
    with pytest.raises(ValueError):
        CompactRange.from_list([], -1)
    with pytest.raises(ValueError):
        CompactRange().append(b"short")


def test_compact_range_memory_is_logarithmic() -> None:
    compact = CompactRange()
    compact.extend(leaves(1000))
    assert compact.size == 1000
    assert len(compact.to_list()) == bin(1000).count("1") == 6


def test_root_of_a_million_leaves_does_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work is counted, not timed: a tree of n leaves takes exactly n - 1 node hashes, so an
    accidental O(n log n) rebuild or a recursion that rehashes subtrees fails on any machine."""
    million = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000_000)]
    calls = 0
    real_sha256 = hashlib.sha256

    def counting_sha256(data: bytes = b"") -> Any:
        nonlocal calls
        calls += 1
        return real_sha256(data)

    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    tree_root = root(million)
    assert calls == len(million) - 1
    calls = 0
    compact = CompactRange()
    compact.extend(million)
    assert compact.root() == tree_root
    assert calls < 2 * len(million)
