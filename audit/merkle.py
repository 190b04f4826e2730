"""Pure Merkle tree core of RFC 9162 shape (RFC 6962 §2.1 hashing), over a pluggable hash.

No I/O here: functions take hashes and sizes and return hashes, node ranges and verdicts.
Storage fetches the node hashes a proof plan names; this module plans and re-hashes.

A node is named by the half-open leaf range it covers, `(start, end)`, exactly as RFC 9162
§2.1.1 writes `MTH(D[start:end])`. In a tree of `size` leaves every node is either *perfect*
(`end - start` a power of two, `start` a multiple of it: stored once, never changes) or lies on
the right border (`end == size`, not a power of two: recomputed from perfect nodes).

Models: transparency-dev/merkle `proof/proof.go` (planning) and `proof/verify.go` (verification).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from audit.errors import ProofError

NodeRange = tuple[int, int]
"""A tree node as the leaf range `[start, end)` it covers."""

# RFC 9162 §2.1.1 domain separation: leaves and interior nodes never hash the same input.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


class Hasher(Protocol):
    """The four operations a Merkle tree needs (RFC 9162 §2.1.1)."""

    @property
    def name(self) -> str:
        """Algorithm name used as the digest prefix, e.g. ``sm3``."""
        ...

    @property
    def size(self) -> int:
        """Digest size in bytes."""
        ...

    def empty_root(self) -> bytes:
        """MTH({}) = HASH()."""
        ...

    def hash_leaf(self, data: bytes) -> bytes:
        """MTH({d(0)}) = HASH(0x00 || d(0))."""
        ...

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """HASH(0x01 || left || right)."""
        ...


@dataclass(frozen=True)
class RFC6962Hasher:
    """RFC 6962 hashing parameterised by a hash over concatenated parts.

    `hash_parts(*parts)` must return the digest of the concatenation of `parts`.
    """

    name: str
    size: int
    hash_parts: Callable[..., bytes]

    def empty_root(self) -> bytes:
        """MTH({}) = HASH()."""
        return self.hash_parts()

    def hash_leaf(self, data: bytes) -> bytes:
        """MTH({d(0)}) = HASH(0x00 || d(0))."""
        return self.hash_parts(LEAF_PREFIX, data)

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """HASH(0x01 || left || right)."""
        return self.hash_parts(NODE_PREFIX, left, right)


def largest_power_of_two_below(n: int) -> int:
    """The `k` of RFC 9162 §2.1.1: the largest power of two smaller than `n` (n >= 2)."""
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(node: NodeRange) -> list[tuple[int, int]]:
    """Decompose a node range into perfect subtrees `(level, index)`, left to right.

    Valid for every node of an RFC 9162 tree: `start` is aligned to a power of two at least
    as large as the range, so taking the set bits of the length from high to low keeps each
    piece aligned.
    """
    start, end = node
    if not 0 <= start < end:
        raise ValueError(f"not a node range: {node}")
    out: list[tuple[int, int]] = []
    pos = start
    length = end - start
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            if pos & ((1 << level) - 1):
                raise ValueError(f"range {node} is not a node of an RFC 9162 tree")
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def fold_perfect(hasher: Hasher, hashes: Sequence[bytes]) -> bytes:
    """Hash of a border node from its perfect pieces (left to right): right-fold, RFC 9162 §2.1.1."""
    if not hashes:
        raise ValueError("no hashes to fold")
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = hasher.hash_children(left, acc)
    return acc


def inclusion_path(index: int, size: int) -> list[NodeRange]:
    """Nodes of the inclusion proof of leaf `index` in a tree of `size`, bottom first.

    Same result as the recursive PATH(m, D[n]) of RFC 9162 §2.1.3.1, computed bottom-up: at each
    level the sibling of the current ancestor is in the proof when it exists; a missing sibling
    (right border) promotes the ancestor unchanged.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    path: list[NodeRange] = []
    level = 0
    while (size - 1) >> level:
        sibling = (index >> level) ^ 1
        start = sibling << level
        if start < size:
            path.append((start, min(start + (1 << level), size)))
        level += 1
    return path


def consistency_path(size1: int, size2: int) -> list[NodeRange]:
    """Nodes of the consistency proof from `size1` to `size2` (RFC 9162 §2.1.4.1 PROOF/SUBPROOF)."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 in (0, size2):
        return []

    def subproof(m: int, start: int, end: int, b: bool) -> list[NodeRange]:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            return [] if b else [(start, end)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [*subproof(m, start, start + k, b), (start + k, end)]
        return [*subproof(m - k, start + k, end, False), (start, start + k)]

    return subproof(size1, 0, size2, True)


def _check_hash(hasher: Hasher, value: bytes, what: str) -> None:
    if len(value) != hasher.size:
        raise ProofError(f"{what} has {len(value)} bytes, expected {hasher.size}")


def root_from_inclusion(
    hasher: Hasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root a valid inclusion proof implies (RFC 9162 §2.1.3.2 steps 1-4)."""
    _check_hash(hasher, leaf_hash, "leaf hash")
    for i, p in enumerate(proof):
        _check_hash(hasher, p, f"proof element {i}")
    # (1) leaf_index must be inside the tree.
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    # (2) fn = leaf_index, sn = tree_size - 1.
    fn, sn = index, size - 1
    # (3) r = leaf hash.
    r = leaf_hash
    # (4) fold every proof element.
    for p in proof:
        # (4a) a proof longer than the path fails.
        if sn == 0:
            raise ProofError(f"inclusion proof too long for leaf {index} in size {size}")
        # (4b) p is a left sibling when fn is odd or fn is the last node of its level.
        if fn & 1 or fn == sn:
            r = hasher.hash_children(p, r)
            if not fn & 1:
                # (4b.ii) skip levels where the ancestor has no right sibling (promotion).
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hasher.hash_children(r, p)
        # (4c)
        fn >>= 1
        sn >>= 1
    # (5, first half) the proof must reach the top of the tree.
    if sn != 0:
        raise ProofError(f"inclusion proof too short for leaf {index} in size {size}")
    return r


def verify_inclusion(
    hasher: Hasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise `ProofError` on any mismatch."""
    _check_hash(hasher, root, "root")
    r = root_from_inclusion(hasher, index, size, leaf_hash, proof)
    # (5, second half) r must equal the root hash.
    if not hmac.compare_digest(r, root):
        raise ProofError(f"inclusion proof for leaf {index} in size {size} does not reach the root")


def verify_consistency(
    hasher: Hasher, size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size2` extends the tree of `size1` (RFC 9162 §2.1.4.2)."""
    _check_hash(hasher, root1, "first root")
    _check_hash(hasher, root2, "second root")
    for i, c in enumerate(proof):
        _check_hash(hasher, c, f"proof element {i}")
    if not 0 <= size1 <= size2:
        raise ProofError(f"size {size2} cannot extend size {size1}: a log never shrinks")
    if size1 == size2:
        # Same tree: nothing to prove beyond equal roots.
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if not hmac.compare_digest(root1, root2):
            raise ProofError(f"different roots for the same size {size1}")
        return
    if size1 == 0:
        # Every tree extends the empty tree.
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    # (1) an empty path cannot prove anything.
    if not proof:
        raise ProofError(f"empty consistency proof from {size1} to {size2}")
    path = list(proof)
    # (2) when size1 is a power of two, the first tree is itself a node of the second one.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # (3)
    fn, sn = size1 - 1, size2 - 1
    # (4) skip the levels where the first tree's last node is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # (5)
    fr = sr = path[0]
    # (6)
    for c in path[1:]:
        # (6a)
        if sn == 0:
            raise ProofError(f"consistency proof from {size1} to {size2} is too long")
        # (6b)
        if fn & 1 or fn == sn:
            fr = hasher.hash_children(c, fr)
            sr = hasher.hash_children(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hasher.hash_children(sr, c)
        # (6c)
        fn >>= 1
        sn >>= 1
    # (7) both roots reproduced and the whole second tree covered.
    if sn != 0:
        raise ProofError(f"consistency proof from {size1} to {size2} is too short")
    if not hmac.compare_digest(fr, root1):
        raise ProofError(f"consistency proof does not reproduce the root of size {size1}")
    if not hmac.compare_digest(sr, root2):
        raise ProofError(f"consistency proof does not reproduce the root of size {size2}")
