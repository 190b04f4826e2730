"""A verifiable map from index keys to the heads of their sub-trees: a compact sparse Merkle tree.

Pure core (no I/O). Each key sits at the 256-bit path SM3(``datasoc-index/1 key`` || 0x00 ||
key), in a binary trie where a subtree holding exactly one leaf is that leaf (placed at the
shallowest depth where it is alone) and an empty subtree is 32 zero bytes; this is the compact
sparse Merkle tree of Dahlberg, Pulls and Peeters (2016), with SM3 and its own domain prefixes:

    leaf  = SM3(0x02 || path || u64 chunks || u64 elements || key-tree root)
    node  = SM3(0x03 || left || right)            (a node exists only above two or more leaves)
    empty = 0x00 * 32

A proof for a key is the sibling hashes from the root down to where the key's path ends, plus
what it ends at: the key's own leaf (membership: the head is proven), another key's leaf sharing
the path so far, or an empty subtree (non-membership: the key has no entries at all).

Updating k keys of N recomputes about k * log2(N / k) nodes: clean subtrees keep cached hashes.
"""

from __future__ import annotations

import bisect
import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from audit.errors import ProofError

EMPTY: Final = bytes(32)
LEAF_PREFIX: Final = b"\x02"
NODE_PREFIX: Final = b"\x03"
_PATH_CONTEXT: Final = b"datasoc-index/1 key\x00"
_HEAD = struct.Struct(">QQ32s")

Hash = Callable[..., bytes]


@dataclass(frozen=True, slots=True)
class KeyHead:
    """What the map says about one key: chunks in its sub-tree, elements in them, sub-tree root."""

    chunks: int
    elements: int
    root: bytes

    def encode(self) -> bytes:
        """The 48 bytes hashed into the key's leaf."""
        return _HEAD.pack(self.chunks, self.elements, self.root)


def key_path(hash_parts: Hash, key: str) -> bytes:
    """The key's 256-bit position in the map."""
    return hash_parts(_PATH_CONTEXT, key.encode("utf-8"))


def leaf_hash(hash_parts: Hash, path: bytes, head: KeyHead) -> bytes:
    """Hash of a map leaf."""
    return hash_parts(LEAF_PREFIX, path, head.encode())


def _bit(path: bytes, depth: int) -> int:
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


def _prefix(path: bytes, depth: int) -> int:
    return int.from_bytes(path, "big") >> (256 - depth) if depth else 0


def _node_key(path: bytes, depth: int) -> tuple[int, bytes, int]:
    """Cache key of the node at `depth` on `path`: whole prefix bytes, then the bits left over."""
    whole, bits = depth >> 3, depth & 7
    return depth, path[:whole], (path[whole] >> (8 - bits)) if bits else 0


@dataclass(frozen=True, slots=True)
class MapProof:
    """Siblings from the root down (`siblings[d]` is the sibling at depth d) and where the path ends.

    `end_path`/`end_head` describe the leaf the path reaches (the key's own leaf, or another key's
    leaf); both None when it reaches an empty subtree.
    """

    siblings: tuple[bytes, ...]
    end_path: bytes | None
    end_head: KeyHead | None


class KeyMap:
    """The map, with cached node hashes so a checkpoint recomputes only what changed."""

    def __init__(self, hash_parts: Hash) -> None:
        self._hash = hash_parts
        self._paths: list[bytes] = []  # sorted (after `_settle`)
        self._new: list[bytes] = []  # paths added since the last `_settle`, unsorted
        self._leaves: dict[bytes, bytes] = {}
        self._heads: dict[bytes, KeyHead] = {}
        self._cache: dict[tuple[int, bytes, int], bytes] = {}
        self._dirty: list[bytes] = []  # sorted, while `root` recomputes
        self._changed: set[bytes] = set()  # paths set since the last `root`
        self._root = EMPTY

    def __len__(self) -> int:
        return len(self._paths) + len(self._new)

    def set(self, key: str, head: KeyHead) -> None:
        """Set the head of `key` (added when new); the root is recomputed by `root()`."""
        path = key_path(self._hash, key)
        if path not in self._leaves:
            # Sorted in at the next `root()`, all at once: inserting each new key into the sorted
            # list moved the whole list, so every entry cost more as the ledger's keys grew.
            self._new.append(path)
        self._leaves[path] = leaf_hash(self._hash, path, head)
        self._heads[path] = head
        self._changed.add(path)

    def get(self, key: str) -> KeyHead | None:
        """The head of `key`, or None."""
        return self._heads.get(key_path(self._hash, key))

    def _settle(self) -> None:
        """Merge the new paths into the sorted list: a binary search each and one copy of the list
        in slices (a sort compared every path again: linear in the keys at every checkpoint)."""
        if not self._new:
            return
        paths = self._paths
        merged: list[bytes] = []
        start = 0
        for path in sorted(self._new):
            at = bisect.bisect_left(paths, path, start)
            merged.extend(paths[start:at])
            merged.append(path)
            start = at
        merged.extend(paths[start:])
        self._paths = merged
        self._new = []

    def root(self) -> bytes:
        """Root hash of the map (recomputes the paths of keys set since the last call)."""
        if self._changed:
            self._settle()
            self._dirty = sorted(self._changed)
            self._root = self._node(0, 0, len(self._paths), 0, len(self._dirty))
            self._dirty = []
            self._changed = set()
        return self._root

    def _node(self, depth: int, lo: int, hi: int, dlo: int = 0, dhi: int = 0) -> bytes:
        """Hash of the node at `depth` over `paths[lo:hi]`; `dirty[dlo:dhi]` are the paths among them
        set since the last root (none: a cached hash stands)."""
        paths = self._paths
        if hi - lo == 0:
            return EMPTY
        if hi - lo == 1:
            return self._leaves[paths[lo]]
        cache_key = _node_key(paths[lo], depth)
        if dlo == dhi:
            cached = self._cache.get(cache_key)
            if cached is not None:
                return cached
        mid = self._split(depth, lo, hi)
        # The dirty paths split where the paths do (both lists are sorted; dirty is a subset).
        dmid = bisect.bisect_left(self._dirty, paths[mid], dlo, dhi) if mid < hi and dlo < dhi else dhi
        if mid == lo:
            dmid = dlo
        h = self._hash(
            NODE_PREFIX,
            self._node(depth + 1, lo, mid, dlo, dmid),
            self._node(depth + 1, mid, hi, dmid, dhi),
        )
        self._cache[cache_key] = h
        return h

    def _split(self, depth: int, lo: int, hi: int) -> int:
        """First index in [lo, hi) whose path has bit `depth` set (paths share `depth` bits): one
        C-level bisection for the smallest path with those bits and bit `depth` set."""
        shift = 255 - depth
        first = int.from_bytes(self._paths[lo], "big")
        target = ((first >> (shift + 1) << 1) | 1) << shift
        return bisect.bisect_left(self._paths, target.to_bytes(32, "big"), lo, hi)

    def prove(self, key: str) -> MapProof:
        """Proof of the head of `key` (or of its absence) against `root()`."""
        self.root()
        path = key_path(self._hash, key)
        lo, hi, depth = 0, len(self._paths), 0
        siblings: list[bytes] = []
        while hi - lo >= 2:
            mid = self._split(depth, lo, hi)
            if _bit(path, depth):
                siblings.append(self._node(depth + 1, lo, mid))
                lo = mid
            else:
                siblings.append(self._node(depth + 1, mid, hi))
                hi = mid
            depth += 1
        if hi - lo == 1:
            end = self._paths[lo]
            return MapProof(tuple(siblings), end, self._heads[end])
        return MapProof(tuple(siblings), None, None)


def verify_map_proof(hash_parts: Hash, root: bytes, key: str, proof: MapProof) -> KeyHead | None:
    """The head `proof` proves for `key` under `root` (None: the key is absent); raises `ProofError`."""
    path = key_path(hash_parts, key)
    depth = len(proof.siblings)
    if depth > 256 or any(len(s) != 32 for s in proof.siblings):
        raise ProofError(f"map proof for {key!r} is malformed")
    if proof.end_path is None:
        if proof.end_head is not None:
            raise ProofError(f"map proof for {key!r} has a head but no path")
        h = EMPTY
        result = None
    else:
        if proof.end_head is None or len(proof.end_path) != 32:
            raise ProofError(f"map proof for {key!r} is malformed")
        if _prefix(proof.end_path, depth) != _prefix(path, depth):
            raise ProofError(f"map proof for {key!r} ends at a leaf off its path")
        h = leaf_hash(hash_parts, proof.end_path, proof.end_head)
        result = proof.end_head if proof.end_path == path else None
    for d in range(depth - 1, -1, -1):
        sibling = proof.siblings[d]
        h = hash_parts(NODE_PREFIX, sibling, h) if _bit(path, d) else hash_parts(NODE_PREFIX, h, sibling)
    if not hmac.compare_digest(h, root):
        raise ProofError(f"map proof for {key!r} does not reach the signed index root")
    return result


def map_root_of(hash_parts: Hash, heads: Sequence[tuple[str, KeyHead]]) -> bytes:
    """Root of a map holding exactly `heads` (a reference for tests and full re-verification)."""
    fresh = KeyMap(hash_parts)
    for key, head in heads:
        fresh.set(key, head)
    return fresh.root()
