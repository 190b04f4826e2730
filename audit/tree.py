"""In-memory perfect-node levels of an append-only Merkle tree (pure: no I/O).

`levels[l]` holds, concatenated, the hashes of the complete subtrees of height `l`
(level 0 = leaf hashes). Perfect nodes never change once complete, so storage persists each
level as an append-only file and this class tells it which bytes were added. Border nodes,
roots and proofs for any size up to the current one are recomputed from perfect nodes
(at most log2(size) hashes each).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from audit.errors import ProofError
from audit.merkle import (
    Hasher,
    NodeRange,
    consistency_path,
    fold_perfect,
    inclusion_path,
    perfect_nodes,
)


class MerkleLevels:
    """Perfect-node levels of one tree; `size` is the number of leaves."""

    def __init__(self, hasher: Hasher, levels: Sequence[bytes | bytearray] = ()) -> None:
        self.hasher = hasher
        self._w = hasher.size
        self.levels: list[bytearray] = [bytearray(level) for level in levels] or [bytearray()]
        self.size = len(self.levels[0]) // self._w
        if len(self.levels) < self.size.bit_length():
            raise ValueError(f"{len(self.levels)} levels cannot hold a tree of size {self.size}")
        for level, data in enumerate(self.levels):
            if len(data) != (self.size >> level) * self._w:
                raise ValueError(
                    f"level {level} holds {len(data)} bytes, expected {self.size >> level} nodes"
                )

    @classmethod
    def from_leaf_hashes(cls, hasher: Hasher, leaf_hashes: Iterable[bytes]) -> MerkleLevels:
        """Build all levels from leaf hashes."""
        tree = cls(hasher)
        tree.append(leaf_hashes)
        return tree

    def append(self, leaf_hashes: Iterable[bytes]) -> list[bytes]:
        """Append leaf hashes; return, per level, the bytes appended to that level."""
        w = self._w
        old = self.size
        added0 = b"".join(leaf_hashes)
        if len(added0) % w:
            raise ValueError("leaf hashes must all be digest-sized")
        self.levels[0] += added0
        self.size = new = old + len(added0) // w
        added = [added0]
        hash_children = self.hasher.hash_children
        level = 0
        while new >> (level + 1):
            if len(self.levels) == level + 1:
                self.levels.append(bytearray())
            first, last = old >> (level + 1), new >> (level + 1)
            # Copy out only the children of the new parents (the level itself may be megabytes).
            below = bytes(self.levels[level][2 * first * w : 2 * last * w])
            out = b"".join(
                hash_children(below[2 * k * w : (2 * k + 1) * w], below[(2 * k + 1) * w : (2 * k + 2) * w])
                for k in range(last - first)
            )
            self.levels[level + 1] += out
            added.append(out)
            level += 1
        return added

    def perfect(self, level: int, index: int) -> bytes:
        """Hash of the perfect node at `level`, `index` (must be complete)."""
        w = self._w
        if level >= len(self.levels) or (index + 1) * w > len(self.levels[level]):
            raise ProofError(f"node {level}/{index} does not exist in a tree of size {self.size}")
        return bytes(self.levels[level][index * w : (index + 1) * w])

    def node(self, node: NodeRange) -> bytes:
        """Hash of any node `[start, end)` with `end <= size` (perfect, or border recomputed)."""
        start, end = node
        if end > self.size:
            raise ProofError(f"node {node} is beyond the tree size {self.size}")
        width = end - start
        if width > 0 and width & (width - 1) == 0 and start % width == 0:
            # Perfect node: one slice (the common case when planning proofs).
            level = width.bit_length() - 1
            w = self._w
            return bytes(self.levels[level][(start >> level) * w : ((start >> level) + 1) * w])
        parts = perfect_nodes(node)
        if len(parts) == 1:
            return self.perfect(*parts[0])
        return fold_perfect(self.hasher, [self.perfect(level, index) for level, index in parts])

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree at `size` (default: current size)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"no tree of size {size}: the ledger holds {self.size} entries")
        return self.hasher.empty_root() if size == 0 else self.node((0, size))

    def leaf(self, index: int) -> bytes:
        """Stored leaf hash at `index`."""
        return self.perfect(0, index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf `index` in the tree of `size` (RFC 9162 §2.1.3.1)."""
        size = self.size if size is None else size
        if size > self.size:
            raise ProofError(f"no tree of size {size}: the ledger holds {self.size} entries")
        return [self.node(n) for n in inclusion_path(index, size)]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from `size1` to `size2` (RFC 9162 §2.1.4.1)."""
        size2 = self.size if size2 is None else size2
        if size2 > self.size:
            raise ProofError(f"no tree of size {size2}: the ledger holds {self.size} entries")
        return [self.node(n) for n in consistency_path(size1, size2)]
