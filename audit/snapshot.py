"""Read-only open of a ledger directory, safe beside the writer (`datasoc run`) in another process.

A snapshot never takes the writer's lock and never writes. It sees a consistent prefix: it reads
checkpoints.log first, then entries.log, each up to its last complete line. The writer makes
entries durable before it writes the checkpoint that covers them, so every checkpoint read covers
entries that the later read of entries.log holds; a line still being written (no LF yet) is left
out, never read as an entry. Lines past the newest checkpoint may not be durable yet: exports prove
against a checkpoint, so they only ever use entries it covers.

The Merkle tree and the key index are recomputed from the entries (about 2 s and 5 s of CPU per million
entries): the writer's level files are derived data it may still be writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from audit.checkpoint import SignedCheckpoint
from audit.entry import LedgerEntry
from audit.errors import AuditError
from audit.files import read_file
from audit.index import LedgerIndex
from audit.reading import SM3_HASHER, line_ends, parse_checkpoints, read_meta, rebuild_index
from audit.tree import MerkleLevels


class LedgerView(Protocol):
    """What exports and searches read: an open store or a snapshot."""

    path: Path
    origin: str
    tree: MerkleLevels
    index: LedgerIndex

    @property
    def size(self) -> int:
        """Number of entries."""
        ...

    @property
    def checkpoints(self) -> list[SignedCheckpoint]:
        """Signed checkpoints, oldest first."""
        ...

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The newest signed checkpoint."""
        ...

    def read_raw(self, seq: int) -> bytes:
        """Canonical bytes of one entry."""
        ...

    def read_raw_range(self, start: int, end: int) -> list[bytes]:
        """Canonical bytes of entries [start, end)."""
        ...

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[LedgerEntry]:
        """Decoded entries [start, end)."""
        ...


class LedgerSnapshot:
    """A consistent, read-only prefix of a ledger directory (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        origin: str,
        data: bytes,
        checkpoints: list[SignedCheckpoint],
        partial_bytes: int,
    ) -> None:
        """Use `open`."""
        self.path = path
        self.origin = origin
        self._data = data
        self._ends = line_ends(data)
        self._checkpoints = checkpoints
        self.partial_bytes = partial_bytes
        """Bytes of an incomplete last line left out (a write in progress, or a crash)."""
        hash_leaf = SM3_HASHER.hash_leaf
        self.tree = MerkleLevels.from_leaf_hashes(
            SM3_HASHER, map(hash_leaf, self.read_raw_range(0, self.size))
        )
        self.index = rebuild_index(data, self._ends, [c.checkpoint.size for c in checkpoints])

    @classmethod
    def open(cls, path: Path) -> LedgerSnapshot:
        """Read the ledger at `path` without locking or writing; `LedgerMissing` names a missing file."""
        origin = read_meta(path)
        cp_data = read_file(path / "checkpoints.log")  # first: see the module docstring
        data = read_file(path / "entries.log")
        cp_data = cp_data[: cp_data.rfind(b"\n") + 1]
        complete = data.rfind(b"\n") + 1
        checkpoints = parse_checkpoints(cp_data, path / "checkpoints.log")
        return cls(path, origin, data[:complete], checkpoints, len(data) - complete)

    @property
    def size(self) -> int:
        """Complete entries read."""
        return len(self._ends)

    @property
    def checkpoints(self) -> list[SignedCheckpoint]:
        """Signed checkpoints read, oldest first."""
        return list(self._checkpoints)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The newest signed checkpoint read."""
        return self._checkpoints[-1] if self._checkpoints else None

    def read_raw(self, seq: int) -> bytes:
        """Canonical bytes of entry `seq`."""
        return self.read_raw_range(seq, seq + 1)[0]

    def read_raw_range(self, start: int, end: int) -> list[bytes]:
        """Canonical bytes of entries [start, end)."""
        if not 0 <= start <= end <= self.size:
            raise AuditError(f"entries [{start}, {end}) are outside the ledger of size {self.size}")
        if start == end:
            return []
        lo = self._ends[start - 1] if start else 0
        return self._data[lo : self._ends[end - 1] - 1].split(b"\n")

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[LedgerEntry]:
        """Decoded entries [start, end)."""
        for raw in self.read_raw_range(start, self.size if end is None else end):
            yield LedgerEntry.from_dict(json.loads(raw))

    def close(self) -> None:
        """Nothing to release (no lock, no open file); here so callers treat views alike."""
