"""Key index committed in signed checkpoints (format ``datasoc-index/1``): provably complete selections.

Pure core (no I/O): the store feeds it entries as they commit and seals it at each checkpoint.

Keys. Every entry is listed under ``actor:<actor>``, ``subject:<subject>``, ``kind:<kind>`` and,
when its payload has a string ``approval.id``, ``grant:<approval.id>``.

Elements. An entry appears in each of its keys' lists as the element (seq, tau): tau is the
ledger time, the running maximum of entry times up to and including this entry, in microseconds
since the Unix epoch. tau never decreases along the log, and the store refuses an entry whose
time is more than `MAX_LATENESS` before the tau so far, so every entry's time t satisfies
``tau - MAX_LATENESS <= t <= tau``.

Chunks and key trees. At each checkpoint, the new elements of each key form one chunk; a key's
chunks are the leaves of the key's own append-only RFC 9162 tree (SM3), chunk leaf =
SM3(0x00 || for each element: u64 seq || i64 tau, big-endian).

Map. `audit.keymap` maps every key to (chunks, elements, key-tree root); its root is the
``index`` line of the signed checkpoint text (`audit.checkpoint`).

What a selection proves. For a key K and a window [T1, T2], a run of K's chunks [a, b) with
  (1) a == 0, or the first element of chunk a has tau < T1, and
  (2) b == chunks, or the last element of chunk b-1 has tau > T2 + MAX_LATENESS,
proven to be leaves a..b-1 of K's tree whose head the map proves under the signed root, holds
every entry of K whose time is in [T1, T2]: an entry before the run has t <= tau < T1 (tau never
decreases), one after it has t >= tau - MAX_LATENESS > T2. Entries whose element has tau in
[T1, T2 + MAX_LATENESS] are the candidates; with several keys, the candidates are the
intersection of their seqs. This trusts the signer to have built the index from the log, as it
trusts the signer to have signed the log; `datasoc ledger verify` re-derives the index from the
entries and checks every signed index root.
"""

from __future__ import annotations

import bisect
import functools
import hmac
import itertools
import threading
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from audit.errors import EntryOutOfOrder, ProofError
from audit.keymap import KeyHead, KeyMap, MapProof, verify_map_proof
from audit.merkle import Hasher, NodeRange, inclusion_path, largest_power_of_two_below
from audit.tree import MerkleLevels

FORMAT: Final = "datasoc-index/1"
MAX_LATENESS: Final = 300_000_000
"""Microseconds an entry's time may lie before the latest time already in the ledger (5 minutes)."""
FIELDS: Final = ("actor", "subject", "kind", "grant")
Row = tuple[int, str, str, str, "str | None"]
"""What the index needs of an entry: (time in microseconds, actor, subject, kind, grant or None)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def ts_micros(ts: str) -> int:
    """Microseconds since the epoch of a canonical entry time (``YYYY-MM-DDTHH:MM:SS.ffffffZ``)."""
    when = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_ts(micros: int) -> str:
    """Inverse of `ts_micros`."""
    seconds, us = divmod(micros, 1_000_000)
    when = datetime.fromtimestamp(seconds, UTC).replace(microsecond=us)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def grant_of(payload: Mapping[str, Any]) -> str | None:
    """The grant key value of a payload: its top-level string ``approval.id``."""
    value = payload.get("approval.id")
    return value if isinstance(value, str) and value else None


def encode_elements(values: Iterable[int]) -> bytes:
    """Big-endian bytes of interleaved (seq, tau) values."""
    out = array("q", values)
    if out.itemsize != 8:  # pragma: no cover - every platform Python runs on has 8-byte long long
        raise RuntimeError("array('q') is not 64-bit here")
    out.byteswap()
    return out.tobytes()


def decode_elements(data: bytes) -> list[tuple[int, int]]:
    """(seq, tau) pairs from `encode_elements` bytes."""
    values = array("q")
    values.frombytes(data)
    values.byteswap()
    return list(zip(values[0::2], values[1::2], strict=True))


class Indexable(Protocol):
    """What the index reads of an entry being committed (an `audit.entry.EntryDraft`)."""

    @property
    def actor(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


class KeyList:
    """One key's elements (interleaved seq, tau), where its chunks end, and its chunk tree."""

    __slots__ = ("ends", "tree", "values")

    def __init__(self, hasher: Hasher) -> None:
        self.values = array("q")
        self.ends: list[int] = []  # element count at the end of each chunk
        self.tree = MerkleLevels(hasher)

    @property
    def sealed(self) -> int:
        """Elements already in chunks."""
        return self.ends[-1] if self.ends else 0

    def chunk_bytes(self, chunk: int) -> bytes:
        """Encoded elements of one chunk."""
        start = self.ends[chunk - 1] if chunk else 0
        return encode_elements(self.values[2 * start : 2 * self.ends[chunk]])

    def head(self, chunks: int | None = None) -> KeyHead:
        """The head at `chunks` chunks (default: all)."""
        n = len(self.ends) if chunks is None else chunks
        return KeyHead(n, self.ends[n - 1] if n else 0, self.tree.root(n))


@dataclass(frozen=True, slots=True)
class KeyRun:
    """The part of one key's tree a selection needs: chunks [first, end) and their proof."""

    key: str
    head: KeyHead
    first: int
    end: int
    chunk_sizes: tuple[int, ...]
    elements: bytes
    nodes: tuple[tuple[NodeRange, bytes], ...]
    map_proof: MapProof


class LedgerIndex:
    """The key index of one ledger: fed by commits, sealed by checkpoints."""

    def __init__(self, hasher: Hasher, hash_parts: Any) -> None:
        self.hasher = hasher
        self.map = KeyMap(hash_parts)
        self.lists: dict[str, KeyList] = {}
        """Sealed elements, chunks and tree of each key."""
        self.tau = -(2**62)
        self.size = 0
        # Entries added since the last seal, per field: value -> [seq, tau, seq, tau, ...]
        # (ascending). Commits only append here; chunking, hashing and the map wait for the
        # checkpoint.
        self._pending: tuple[defaultdict[str, list[int]], ...] = tuple(defaultdict(list) for _ in FIELDS)
        self.lock = threading.Lock()
        self.history: list[tuple[int, bytes]] = []
        """(size, map root) of every seal, oldest first (what each checkpoint signed)."""

    def check_time(self, ts: str, floor: int) -> int:
        """`ts` in microseconds, or `EntryOutOfOrder` when it lies too far before `floor` (a tau)."""
        micros = ts_micros(ts)
        if micros < floor - MAX_LATENESS:
            raise EntryOutOfOrder(
                f"time {ts} is more than {MAX_LATENESS // 1_000_000} s before the ledger's latest "
                f"time {micros_ts(floor)}; is this clock behind?",
                field="ts",
            )
        return micros

    def add_many(self, first: int, rows: Sequence[Row]) -> None:
        """Add entries `first`, `first + 1`, ... (times already checked); caller holds `lock`.

        A row is (micros, actor, subject, kind, grant or None).
        """
        self.add_columns(
            first,
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
        )

    def add_columns(
        self,
        first: int,
        micros: Sequence[int],
        actors: Sequence[str],
        subjects: Sequence[str],
        kinds: Sequence[str],
        grants: Sequence[str | None],
    ) -> None:
        """`add_many` by column (rebuilding from stored entries); caller holds `lock`."""
        if first != self.size:
            raise ValueError(f"index expects entry {self.size}, got {first}")
        tau = self.tau
        by_actor, by_subject, by_kind, by_grant = self._pending
        seq = first
        for m, actor, subject, kind, grant in zip(micros, actors, subjects, kinds, grants, strict=True):
            if m > tau:
                tau = m
            element = (seq, tau)
            by_actor[actor] += element
            by_subject[subject] += element
            by_kind[kind] += element
            if grant is not None:
                by_grant[grant] += element
            seq += 1
        self.tau = tau
        self.size = seq

    def add_drafts(self, first: int, drafts: Sequence[Indexable], micros: Sequence[int]) -> None:
        """`add_columns` for entries being committed: one pass, C-level defaultdict lookups (the
        commit path's whole share of the index); caller holds `lock`."""
        if first != self.size:
            raise ValueError(f"index expects entry {self.size}, got {first}")
        tau = self.tau
        by_actor, by_subject, by_kind, by_grant = self._pending
        seq = first
        for draft, m in zip(drafts, micros, strict=True):
            if m > tau:
                tau = m
            element = (seq, tau)
            by_actor[draft.actor] += element
            by_subject[draft.subject] += element
            by_kind[draft.kind] += element
            grant = draft.payload.get("approval.id")
            if grant.__class__ is str and grant:
                by_grant[grant] += element
            seq += 1
        self.tau = tau
        self.size = seq

    def seal(self, size: int) -> bytes:
        """Close a chunk for every key with new entries below `size`; returns the new map root."""
        with self.lock:
            hash_leaf = self.hasher.hash_leaf
            for field, column in zip(FIELDS, self._pending, strict=True):
                for value, elements in list(column.items()):
                    n = len(elements) // 2
                    cut = n
                    while cut and elements[2 * cut - 2] >= size:  # only a racing commit leaves any
                        cut -= 1
                    if cut == 0:
                        continue
                    chunk = array("q", elements[: 2 * cut] if cut < n else elements)
                    key = f"{field}:{value}"
                    kl = self.lists.get(key)
                    if kl is None:
                        kl = self.lists[key] = KeyList(self.hasher)
                    kl.values.extend(chunk)
                    kl.ends.append(len(kl.values) // 2)
                    chunk.byteswap()
                    kl.tree.append([hash_leaf(chunk.tobytes())])
                    self.map.set(key, kl.head())
                    if cut == n:
                        del column[value]
                    else:
                        del elements[: 2 * cut]
            root = self.map.root()
            self.history.append((size, root))
            return root

    def lookup(self, key: str) -> list[int]:
        """Seqs of every entry under `key`, sealed into a checkpoint or not yet."""
        field, _, value = key.partition(":")
        kl = self.lists.get(key)
        sealed = list(kl.values[0::2]) if kl is not None else []
        if field not in FIELDS:
            return sealed
        return sealed + list(self._pending[FIELDS.index(field)].get(value, [])[0::2])

    def run(self, key: str, since: int, until: int) -> KeyRun:
        """Chunks of `key` covering [since, until] with conditions (1) and (2), and their proofs."""
        kl = self.lists.get(key)
        map_proof = self.map.prove(key)
        if kl is None or not kl.ends:
            return KeyRun(key, KeyHead(0, 0, self.hasher.empty_root()), 0, 0, (), b"", (), map_proof)
        taus = kl.values[1 : 2 * kl.sealed : 2]
        before = bisect.bisect_left(taus, since)  # elements with tau < since
        upto = bisect.bisect_right(taus, until + MAX_LATENESS)  # elements with tau <= until + lateness
        first = bisect.bisect_right(kl.ends, before - 1) if before else 0
        end = bisect.bisect_right(kl.ends, upto) + 1 if upto < len(taus) else len(kl.ends)
        end = min(end, len(kl.ends))
        sizes = tuple(kl.ends[c] - (kl.ends[c - 1] if c else 0) for c in range(first, end))
        start_elem = kl.ends[first - 1] if first else 0
        end_elem = kl.ends[end - 1] if end else 0
        elements = encode_elements(kl.values[2 * start_elem : 2 * end_elem])
        nodes = _range_nodes(kl.tree, first, end, len(kl.ends))
        return KeyRun(key, kl.head(), first, end, sizes, elements, tuple(nodes), map_proof)


def _range_nodes(tree: MerkleLevels, first: int, end: int, size: int) -> list[tuple[NodeRange, bytes]]:
    """Nodes outside leaves [first, end) that the inclusion proofs of those leaves use."""
    out: dict[NodeRange, bytes] = {}
    for leaf in (first, end - 1) if end > first else ():
        for node in inclusion_path(leaf, size):
            if not (first <= node[0] and node[1] <= end):
                out[node] = tree.node(node)
    return sorted(out.items())


def root_from_range(
    hasher: Hasher, size: int, first: int, leaves: list[bytes], nodes: Mapping[NodeRange, bytes]
) -> bytes:
    """Root of a tree of `size` leaves from leaves [first, first + len(leaves)) and outside nodes.

    RFC 9162 §2.1.1 MTH, recursing only into nodes that overlap the range; every node entirely
    outside it must be in `nodes` (`ProofError` names the first missing one).
    """
    end = first + len(leaves)
    if not 0 <= first < end <= size:
        raise ProofError(f"leaves [{first}, {end}) are not inside a tree of size {size}")

    def mth(lo: int, hi: int) -> bytes:
        if hi <= first or lo >= end:
            try:
                return nodes[(lo, hi)]
            except KeyError:
                raise ProofError(f"range proof lacks node {(lo, hi)}") from None
        if hi - lo == 1:
            return leaves[lo - first]
        k = largest_power_of_two_below(hi - lo)
        return hasher.hash_children(mth(lo, lo + k), mth(lo + k, hi))

    return mth(0, size)


@dataclass(frozen=True, slots=True)
class RunClaim:
    """One key's run as a bundle states it (decoded, not yet trusted)."""

    key: str
    first: int
    end: int
    chunk_sizes: tuple[int, ...]
    elements: bytes
    nodes: Mapping[NodeRange, bytes]
    map_proof: MapProof


def verify_run(
    hasher: Hasher, hash_parts: Any, index_root: bytes, claim: RunClaim, since: int, until: int
) -> tuple[KeyHead | None, list[int]]:
    """Check a run against the signed index root; returns the key's head and its candidate seqs.

    Raises `ProofError` unless the run is leaves [first, end) of the key's tree, the map proves
    that tree's head, and conditions (1) and (2) of the module docstring hold for [since, until].
    """
    key = claim.key
    head = verify_map_proof(hash_parts, index_root, key, claim.map_proof)
    if head is None or head.chunks == 0:
        if claim.first or claim.end or claim.elements:
            raise ProofError(f"{key}: the map proves no entries, the run claims some")
        return head, []
    if not 0 <= claim.first < claim.end <= head.chunks or len(claim.chunk_sizes) != claim.end - claim.first:
        raise ProofError(f"{key}: run [{claim.first}, {claim.end}) does not fit {head.chunks} chunks")
    if any(s < 1 for s in claim.chunk_sizes) or sum(claim.chunk_sizes) * 16 != len(claim.elements):
        raise ProofError(f"{key}: chunk sizes do not match the elements")
    elements = decode_elements(claim.elements)
    for (s0, t0), (s1, t1) in itertools.pairwise(elements):
        if not (s1 > s0 and t1 >= t0):
            raise ProofError(f"{key}: elements out of order at seq {s1}")
    leaves = []
    pos = 0
    for size in claim.chunk_sizes:
        leaves.append(hasher.hash_leaf(claim.elements[16 * pos : 16 * (pos + size)]))
        pos += size
    root = root_from_range(hasher, head.chunks, claim.first, leaves, claim.nodes)
    if not hmac.compare_digest(root, head.root):
        raise ProofError(f"{key}: run does not reach the key tree root the map proves")
    # (1) nothing of this key before the run can be at or after `since`.
    if claim.first > 0 and not elements[0][1] < since:
        raise ProofError(f"{key}: run starts inside the window (entries before it are not excluded)")
    # (2) nothing after the run can be at or before `until`.
    if claim.end < head.chunks and not elements[-1][1] > until + MAX_LATENESS:
        raise ProofError(f"{key}: run ends inside the window (entries after it are not excluded)")
    return head, [seq for seq, tau in elements if since <= tau <= until + MAX_LATENESS]
