"""Ledger storage on local disk: append-only files, group-commit fsync, crash recovery.

Directory layout (format ``datasoc-ledger/1``)::

    LEDGER             {"format": "datasoc-ledger/1", "hash": "sm3", "origin": "<origin>"}
    entries.log        one RFC 8785 canonical entry per line, LF-terminated; line i has seq i
    tree/level-NN.bin  perfect Merkle nodes of height NN, 32 raw bytes each, in index order
                       (level-00 = leaf hashes); derived data, trusted only after a clean close
    CLEAN              present only while the store is closed cleanly
    checkpoints.log    one signed checkpoint per line (JSON, see audit.checkpoint)

Files are 0600 and directories 0700 (`audit.files`); an older ledger is tightened on open.
The key index (`audit.index`) is derived from entries.log and the checkpoint sizes: rebuilt in
memory on open, fed by every commit, sealed into each checkpoint.

Durability: a batch is written to entries.log and fdatasync'ed; only then are its appenders
acknowledged (level files are derived: written without sync, flushed at close). Concurrent
appenders share one commit (group commit: the first waiter becomes the leader and commits
everything queued so far, while later arrivals queue for the next commit).

Recovery: entries.log is the source of truth. A last line without its LF is a torn write: it is
cut off and reported in `OpenReport`, never read as an entry. After an unclean shutdown (no
CLEAN marker) every node is recomputed from entries.log (about 2 s per million entries); after a
clean one, level files are cut back to the entries and missing tails recomputed.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from audit.checkpoint import SignedCheckpoint, check_successor
from audit.entry import EntryDraft, LedgerEntry
from audit.errors import (
    AuditError,
    CheckpointError,
    EntryOutOfOrder,
    LedgerCorrupt,
    LedgerExists,
)
from audit.files import fsync_dir, lock, open_append, private_dir, read_file, tighten, write_durably
from audit.index import LedgerIndex
from audit.reading import (
    FORMAT,
    SM3_HASHER,
    checkpoint_line,
    line_ends,
    parse_checkpoints,
    read_meta,
    rebuild_index,
)
from audit.tree import MerkleLevels

__all__ = [
    "CLEAN",
    "FORMAT",
    "SM3_HASHER",
    "LedgerStore",
    "OpenReport",
    "Receipt",
    "checkpoint_line",
    "read_meta",
]

CLEAN: Final = "CLEAN"


@dataclass(frozen=True, slots=True)
class OpenReport:
    """What `LedgerStore.open` found: entries kept, bytes of torn tail cut, derived nodes rebuilt."""

    entries: int
    torn_tail_bytes: int
    rebuilt_leaves: int
    cut_node_bytes: int
    torn_checkpoint_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    """Acknowledgement of one durable append."""

    seq: int
    leaf_hash: bytes


class _Waiter:
    __slots__ = ("done", "drafts", "error", "first_seq", "leaves")

    def __init__(self, drafts: Sequence[EntryDraft]) -> None:
        self.drafts = drafts
        self.done = False
        self.first_seq = -1
        self.leaves: list[bytes] = []
        self.error: BaseException | None = None


class LedgerStore:
    """An open ledger directory. Thread-safe for appends; one process at a time."""

    def __init__(
        self,
        path: Path,
        origin: str,
        tree: MerkleLevels,
        ends: array[int],
        report: OpenReport,
        checkpoints: Sequence[SignedCheckpoint],
        lock: int,
        index: LedgerIndex,
    ) -> None:
        """Use `create` or `open`; this only assembles what they read."""
        self.path = path
        self.origin = origin
        self.tree = tree
        self.report = report
        self._ends = ends
        self._cv = threading.Condition()
        self._pending: list[_Waiter] = []
        self._committing = False
        self._broken: BaseException | None = None
        self.commits = 0
        """Group commits (one fdatasync each) since open."""
        self._entries = open_append(path / "entries.log")
        self._level_files: list[BinaryIO] = []
        self._checkpoints = list(checkpoints)
        self._lock = lock
        self.index = index
        """The key index; sealed by `audit.ledger.Ledger.checkpoint`."""

    # ---- opening ----

    @classmethod
    def create(cls, path: Path, origin: str) -> LedgerStore:
        """Create an empty ledger directory (refuses to overwrite one)."""
        private_dir(path)
        marker = path / "LEDGER"
        if marker.exists():
            raise LedgerExists("a ledger already exists here", path=str(marker))
        private_dir(path / "tree")
        for name in ("entries.log", "checkpoints.log"):
            open_append(path / name).close()
        meta = {"format": FORMAT, "hash": "sm3", "origin": origin}
        write_durably(marker, json.dumps(meta, sort_keys=True).encode() + b"\n")
        fsync_dir(path)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> LedgerStore:
        """Open a ledger, cutting a torn tail and rebuilding derived nodes (see `report`).

        Holds an exclusive lock on the directory until `close`: one writer process at a time.
        """
        origin = read_meta(path)
        fd = lock(path)
        try:
            tighten(path)
            return cls._open_locked(path, origin, fd)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def _open_locked(cls, path: Path, origin: str, lock: int) -> LedgerStore:
        log = path / "entries.log"
        data = read_file(log)
        cut = len(data) - (data.rfind(b"\n") + 1)
        if cut:
            data = data[: len(data) - cut]
            with open(log, "r+b") as fh:
                fh.truncate(len(data))
                os.fsync(fh.fileno())
        ends = line_ends(data)
        n = len(ends)
        clean = path / CLEAN
        was_clean = clean.exists()
        levels, cut_bytes = _read_levels(path / "tree", n) if was_clean else ([], 0)
        tree = MerkleLevels(SM3_HASHER, levels)
        rebuilt = n - tree.size
        if rebuilt:
            starts = [0, *ends[:-1]]
            hash_leaf = SM3_HASHER.hash_leaf
            tree.append(hash_leaf(data[starts[i] : ends[i] - 1]) for i in range(tree.size, n))
        if n:
            # Cheap guard on open: the last entry is where it claims to be and hashes to its leaf.
            last = data[(ends[-2] if n > 1 else 0) : ends[-1] - 1]
            try:
                seq = json.loads(last).get("seq")
            except (ValueError, AttributeError):
                seq = None
            if seq != n - 1 or SM3_HASHER.hash_leaf(last) != tree.leaf(n - 1):
                raise LedgerCorrupt("last entry does not match its leaf hash or position", path=str(log))
        checkpoints, cp_cut = _load_checkpoints(path / "checkpoints.log")
        index = rebuild_index(data, ends, [c.checkpoint.size for c in checkpoints])
        latest = checkpoints[-1].checkpoint if checkpoints else None
        if latest is not None and latest.index_root is not None and latest.index_root != index.map.root():
            raise LedgerCorrupt(
                "the key index rebuilt from the entries differs from the latest checkpoint's",
                path=str(path / "checkpoints.log"),
            )
        if was_clean:
            # From here on a crash must make the next open rebuild the derived files.
            clean.unlink()
            fsync_dir(path)
        if rebuilt or cut_bytes or not levels:
            _rewrite_levels(path / "tree", tree)
        report = OpenReport(n, cut, rebuilt, cut_bytes, cp_cut)
        return cls(path, origin, tree, ends, report, checkpoints, lock, index)

    # ---- reading ----

    @property
    def size(self) -> int:
        """Number of durable entries."""
        return len(self._ends)

    def read_raw(self, seq: int) -> bytes:
        """Canonical bytes of entry `seq` (without the LF)."""
        return b"".join(self.read_raw_range(seq, seq + 1))

    def read_raw_range(self, start: int, end: int) -> list[bytes]:
        """Canonical bytes of entries `[start, end)`."""
        if not 0 <= start <= end <= self.size:
            raise AuditError(f"entries [{start}, {end}) are outside the ledger of size {self.size}")
        if start == end:
            return []
        lo = self._ends[start - 1] if start else 0
        with open(self.path / "entries.log", "rb") as fh:
            fh.seek(lo)
            blob = fh.read(self._ends[end - 1] - lo)
        lines = blob.split(b"\n")
        return lines[: end - start]

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[LedgerEntry]:
        """Decoded entries `[start, end)`."""
        for raw in self.read_raw_range(start, self.size if end is None else end):
            yield LedgerEntry.from_dict(json.loads(raw))

    @property
    def checkpoints(self) -> list[SignedCheckpoint]:
        """Signed checkpoints in the order they were added."""
        return list(self._checkpoints)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The newest signed checkpoint, if any."""
        return self._checkpoints[-1] if self._checkpoints else None

    # ---- appending (group commit) ----

    def append(self, draft: EntryDraft) -> Receipt:
        """Append one entry; returns once it is durable."""
        return self.append_many([draft])[0]

    def append_many(self, drafts: Sequence[EntryDraft]) -> list[Receipt]:
        """Append entries in order, contiguously; returns once all are durable."""
        if not drafts:
            return []
        waiter = _Waiter(drafts)
        with self._cv:
            self._pending.append(waiter)
            while not waiter.done:
                if self._broken is not None:
                    raise LedgerCorrupt(
                        f"store unusable after a failed commit: {self._broken}", path=str(self.path)
                    )
                if not self._committing:
                    self._committing = True
                    batch, self._pending = self._pending, []
                    break
                self._cv.wait()
            else:
                return self._receipts(waiter)
        try:
            self._commit(batch)
        except BaseException as exc:
            with self._cv:
                self._broken = exc
                for w in batch:
                    w.error, w.done = exc, True
                self._committing = False
                self._cv.notify_all()
            raise
        with self._cv:
            for w in batch:
                w.done = True
            self._committing = False
            self._cv.notify_all()
        return self._receipts(waiter)

    @staticmethod
    def _receipts(waiter: _Waiter) -> list[Receipt]:
        if isinstance(waiter.error, EntryOutOfOrder):
            raise waiter.error
        if waiter.error is not None:
            raise LedgerCorrupt(f"append failed: {waiter.error}", path="entries.log")
        return [Receipt(waiter.first_seq + i, leaf) for i, leaf in enumerate(waiter.leaves)]

    def _commit(self, batch: list[_Waiter]) -> None:
        seq = self.size
        lines: list[bytes] = []
        hash_leaf = SM3_HASHER.hash_leaf
        index = self.index
        check_time = index.check_time
        tau = index.tau
        accepted: list[_Waiter] = []
        times: list[int] = []
        for w in batch:
            # An entry too far behind the ledger's time fails its own appender only (see audit.index).
            try:
                mine, t = [], tau
                for draft in w.drafts:
                    micros = check_time(draft.ts, t)
                    mine.append(micros)
                    if micros > t:
                        t = micros
            except EntryOutOfOrder as exc:
                w.error = exc
                continue
            tau = t
            times += mine
            accepted.append(w)
            w.first_seq = seq
            for draft in w.drafts:
                raw = draft.canonical_at(seq)
                lines.append(raw)
                w.leaves.append(hash_leaf(raw))
                seq += 1
        if not lines:
            return
        blob = b"\n".join(lines) + b"\n"
        added = self.tree.append(leaf for w in accepted for leaf in w.leaves)
        before = self._ends[-1] if self._ends else 0
        try:
            self._entries.write(blob)
            self._entries.flush()
            # Only entries.log must be durable before the ack; level files are derived and rebuilt
            # on the next open unless the store was closed cleanly.
            os.fdatasync(self._entries.fileno())
        except BaseException:
            # Nothing of this batch was acknowledged: take back whatever part of it reached the
            # file, so reopening (the store is unusable now) cannot keep whole lines of it, which
            # the retried append would then write a second time.
            with contextlib.suppress(OSError, ValueError):
                self._entries.truncate(before)
                self._entries.seek(0, os.SEEK_END)
            raise
        self.commits += 1
        for level, data in enumerate(added):
            if data:
                self._level_file(level).write(data)
        with index.lock:
            # Before `size` moves: a checkpoint of size n seals exactly the entries below n.
            index.add_drafts(self.size, [d for w in accepted for d in w.drafts], times)
        base = self._ends[-1] if self._ends else 0
        pos = 0
        for raw in lines:
            pos += len(raw) + 1
            self._ends.append(base + pos)

    # ---- checkpoints ----

    def add_checkpoint(self, signed: SignedCheckpoint) -> None:
        """Persist a signed checkpoint after checking it describes this tree and moves forward."""
        cp = signed.checkpoint
        if cp.origin != self.origin:
            raise CheckpointError(f"checkpoint origin {cp.origin!r} is not this ledger's {self.origin!r}")
        if cp.size > self.size or cp.root != self.tree.root(cp.size):
            raise CheckpointError(f"checkpoint of size {cp.size} does not match this ledger's tree")
        last = self.latest_checkpoint()
        if last is not None:
            check_successor(last.checkpoint, cp)
        line = checkpoint_line(signed)
        with open_append(self.path / "checkpoints.log") as fh:
            fh.write(line)
            fh.flush()
            os.fdatasync(fh.fileno())
        self._checkpoints.append(signed)

    def mark_broken(self, cause: BaseException) -> None:
        """Refuse further appends until reopened (derived state no longer matches the files)."""
        with self._cv:
            self._broken = cause

    def _level_file(self, level: int) -> BinaryIO:
        while len(self._level_files) <= level:
            name = f"level-{len(self._level_files):02d}.bin"
            self._level_files.append(open_append(self.path / "tree" / name))
        return self._level_files[level]

    @property
    def broken(self) -> BaseException | None:
        """The failure that left this store unusable (a failed commit), or None."""
        return self._broken

    def close(self, *, clean: bool = True) -> None:
        """Flush derived files and mark the store cleanly closed (next open trusts level files)."""
        if self._entries.closed:
            return
        try:
            for fh in self._level_files:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            self._entries.close()
            if clean and self._broken is None:
                write_durably(self.path / CLEAN, b"")
                fsync_dir(self.path)
        finally:
            # Whatever failed above (a full disk), the files are closed and the lock released, so
            # the store can be opened again (a failed close leaves no CLEAN: the next open rebuilds).
            for fh in self._level_files:
                with contextlib.suppress(OSError):
                    fh.close()
            with contextlib.suppress(OSError):
                self._entries.close()
            os.close(self._lock)  # releases the flock

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load_checkpoints(path: Path) -> tuple[list[SignedCheckpoint], int]:
    """Signed checkpoints in order, after cutting a torn last line (returned: bytes cut)."""
    data = read_file(path)
    cut = len(data) - (data.rfind(b"\n") + 1)
    if cut:
        with open(path, "r+b") as fh:
            fh.truncate(len(data) - cut)
            os.fsync(fh.fileno())
        data = data[: len(data) - cut]
    return parse_checkpoints(data, path), cut


def _read_levels(tree_dir: Path, n: int) -> tuple[list[bytes], int]:
    """Stored levels cut back to what `n` entries support, and how many bytes were cut.

    Returns no levels at all when one is missing or short: the caller then rebuilds everything.
    """
    levels: list[bytes] = []
    cut = 0
    size0 = n
    level = 0
    while size0 >> level or level == 0:
        file = tree_dir / f"level-{level:02d}.bin"
        data = file.read_bytes() if file.exists() else b""
        if level == 0:
            size0 = min(n, len(data) // 32)
        want = (size0 >> level) * 32
        if len(data) < want:
            return [], cut
        cut += len(data) - want
        levels.append(data[:want])
        level += 1
    return levels, cut


def _rewrite_levels(tree_dir: Path, tree: MerkleLevels) -> None:
    private_dir(tree_dir)
    for level, data in enumerate(tree.levels):
        write_durably(tree_dir / f"level-{level:02d}.bin", bytes(data))
    for stale in tree_dir.glob("level-*.bin"):
        if int(stale.stem.split("-")[1]) >= len(tree.levels):
            stale.unlink()
    fsync_dir(tree_dir)
