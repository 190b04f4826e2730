"""Merkle core: RFC 6962 SHA-256 vectors, a naive reference tree, and broken proofs."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from audit.errors import ProofError
from audit.merkle import (
    RFC6962Hasher,
    consistency_path,
    inclusion_path,
    largest_power_of_two_below,
    verify_consistency,
    verify_inclusion,
)
from audit.tree import MerkleLevels

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle" / "rfc6962_sha256.json"


def _sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


SHA256 = RFC6962Hasher("sha256", 32, _sha256)


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    assert "transparency-dev/merkle" in data["source"]
    return data


def _leaves(vectors: dict[str, Any]) -> list[bytes]:
    return [SHA256.hash_leaf(bytes.fromhex(h)) for h in vectors["leaf_inputs_hex"]]


# ---- naive reference: RFC 9162 §2.1.1-2.1.4.1 written recursively, straight from the text ----


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return SHA256.empty_root()
    if n == 1:
        return leaves[0]
    k = largest_power_of_two_below(n)
    return SHA256.hash_children(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


# ---- published vectors ----


def test_roots_match_rfc6962_vectors(vectors: dict[str, Any]) -> None:
    leaves = _leaves(vectors)
    for size, want in enumerate(vectors["root_hashes_by_size"]):
        tree = MerkleLevels.from_leaf_hashes(SHA256, leaves[:size])
        assert tree.root().hex() == want, size


def test_perfect_nodes_match_rfc6962_vectors(vectors: dict[str, Any]) -> None:
    tree = MerkleLevels.from_leaf_hashes(SHA256, _leaves(vectors))
    for level, hashes in enumerate(vectors["node_hashes_by_level"]):
        assert [tree.perfect(level, i).hex() for i in range(len(hashes))] == hashes


def test_inclusion_proofs_match_rfc6962_vectors(vectors: dict[str, Any]) -> None:
    leaves = _leaves(vectors)
    tree = MerkleLevels.from_leaf_hashes(SHA256, leaves)
    for case in vectors["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert tree.inclusion_proof(index, size) == proof
        verify_inclusion(SHA256, index, size, leaves[index], proof, tree.root(size))


def test_consistency_proofs_match_rfc6962_vectors(vectors: dict[str, Any]) -> None:
    tree = MerkleLevels.from_leaf_hashes(SHA256, _leaves(vectors))
    for case in vectors["consistency_proofs"]:
        s1, s2 = case["size1"], case["size2"]
        proof = [bytes.fromhex(h) for h in case["proof"]]
        assert tree.consistency_proof(s1, s2) == proof
        verify_consistency(SHA256, s1, s2, proof, tree.root(s1), tree.root(s2))


# ---- cross-check against the reference for every size up to 70 ----


def _random_leaves(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [SHA256.hash_leaf(rng.randbytes(rng.randrange(0, 40))) for _ in range(n)]


def test_against_reference_tree_all_sizes() -> None:
    leaves = _random_leaves(70)
    tree = MerkleLevels.from_leaf_hashes(SHA256, leaves)
    rng = random.Random(11)
    for size in range(1, 71):
        root = ref_mth(leaves[:size])
        assert tree.root(size) == root
        for index in {0, size - 1, rng.randrange(size), rng.randrange(size)}:
            proof = tree.inclusion_proof(index, size)
            assert proof == ref_path(index, leaves[:size])
            assert len(inclusion_path(index, size)) == len(proof)
            verify_inclusion(SHA256, index, size, leaves[index], proof, root)
        for size1 in {1, size // 2 or 1, rng.randrange(1, size + 1), size}:
            proof = tree.consistency_proof(size1, size)
            want = ref_subproof(size1, leaves[:size], True) if size1 < size else []
            assert proof == want
            verify_consistency(SHA256, size1, size, proof, tree.root(size1), root)


def test_incremental_append_equals_bulk_build() -> None:
    leaves = _random_leaves(70)
    tree = MerkleLevels(SHA256)
    rng = random.Random(3)
    pos = 0
    while pos < len(leaves):
        step = rng.randrange(1, 9)
        tree.append(leaves[pos : pos + step])
        pos += step
        assert tree.root() == ref_mth(leaves[: tree.size])
    assert tree.levels == MerkleLevels.from_leaf_hashes(SHA256, leaves).levels


def test_reopen_from_levels_keeps_tree() -> None:
    tree = MerkleLevels.from_leaf_hashes(SHA256, _random_leaves(37))
    again = MerkleLevels(SHA256, tree.levels)
    assert again.size == 37
    assert again.root() == tree.root()
    with pytest.raises(ValueError, match="level 1"):
        MerkleLevels(SHA256, [tree.levels[0], tree.levels[1][:-1], *tree.levels[2:]])
    with pytest.raises(ValueError, match="cannot hold"):
        MerkleLevels(SHA256, tree.levels[:2])


# ---- broken proofs (after transparency-dev/merkle proof/verify_test.go corrupt*Proof) ----


def _inclusion_probes(
    index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        ("index-1", index - 1, size, leaf, proof, root),
        ("index+1", index + 1, size, leaf, proof, root),
        ("index^2", index ^ 2, size, leaf, proof, root),
        ("size*2", index, size * 2, leaf, proof, root),
        ("size/2", index, size // 2, leaf, proof, root),
        ("wrong leaf", index, size, SHA256.hash_leaf(b"WrongLeaf"), proof, root),
        ("empty root", index, size, leaf, proof, SHA256.empty_root()),
        ("random root", index, size, leaf, proof, some),
        ("trailing root", index, size, leaf, [*proof, root], root),
        ("preceding root", index, size, leaf, [root, *proof], root),
        ("short element", index, size, leaf, [*proof[:-1], proof[-1][:-1]], root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((f"flipped proof[{i}]", index, size, leaf, bad, root))
    probes.append(("removed component", index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append(("inserted component", index, size, leaf, [proof[0], some, *proof[1:]], root))
    return probes


def test_broken_inclusion_proofs_fail() -> None:
    leaves = _random_leaves(70)
    tree = MerkleLevels.from_leaf_hashes(SHA256, leaves)
    count = 0
    for size in (2, 3, 5, 8, 13, 64, 70):
        for index in {0, 1, size // 2, size - 1}:
            proof = tree.inclusion_proof(index, size)
            for _desc, i, s, leaf, p, root in _inclusion_probes(
                index, size, leaves[index], proof, tree.root(size)
            ):
                with pytest.raises(ProofError):
                    verify_inclusion(SHA256, i, s, leaf, p, root)
                count += 1
    assert count > 300


def test_broken_consistency_proofs_fail() -> None:
    leaves = _random_leaves(70)
    tree = MerkleLevels.from_leaf_hashes(SHA256, leaves)
    for s1, s2 in [(1, 2), (2, 5), (3, 7), (6, 8), (7, 70), (32, 70), (64, 70)]:
        r1, r2 = tree.root(s1), tree.root(s2)
        proof = tree.consistency_proof(s1, s2)
        probes: list[tuple[int, int, list[bytes], bytes, bytes]] = [
            (s1 - 1, s2, proof, r1, r2),
            (s1 + 1, s2, proof, r1, r2),
            (s1, s2 * 2, proof, r1, r2),
            (s1, s2 // 2, proof, r1, r2),
            (s1, s2, proof, r2, r1),
            (s1, s2, proof, SHA256.empty_root(), r2),
            (s1, s2, [], r1, r2),
            (s1, s2, [*proof, r1], r1, r2),
            (s1, s2, [r2, *proof], r1, r2),
            (s1, s2, proof[:-1], r1, r2),
        ]
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
            probes.append((s1, s2, bad, r1, r2))
        for a, b, p, x, y in probes:
            if (a, b) == (s1, s2) and p == proof and (x, y) == (r1, r2):
                continue
            with pytest.raises(ProofError):
                verify_consistency(SHA256, a, b, p, x, y)


def test_consistency_edge_cases() -> None:
    tree = MerkleLevels.from_leaf_hashes(SHA256, _random_leaves(4))
    verify_consistency(SHA256, 0, 4, [], SHA256.empty_root(), tree.root())
    verify_consistency(SHA256, 4, 4, [], tree.root(), tree.root())
    with pytest.raises(ProofError, match="never shrinks"):
        verify_consistency(SHA256, 4, 3, [], tree.root(), tree.root(3))
    with pytest.raises(ProofError, match="same size"):
        verify_consistency(SHA256, 3, 3, [], tree.root(3), tree.root())
    with pytest.raises(ProofError):
        consistency_path(5, 4)


def test_inclusion_out_of_range() -> None:
    with pytest.raises(ProofError, match="outside"):
        inclusion_path(4, 4)
    with pytest.raises(ProofError, match="outside"):
        verify_inclusion(SHA256, 0, 0, SHA256.empty_root(), [], SHA256.empty_root())
