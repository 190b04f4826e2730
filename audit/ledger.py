"""The ledger service: storage plus a checkpoint signer and its policy.

Time is always passed in (`now`), so the checkpoint policy is tested without a clock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from audit.checkpoint import Checkpoint, CheckpointPolicy, SignedCheckpoint
from audit.entry import EntryDraft, format_ts
from audit.errors import AuditError, CheckpointError
from audit.storage import LedgerStore, Receipt
from crypto.recipes import SigningKey
from datasoc.logging import get_logger

log = get_logger("ledger")


class Ledger:
    """Append entries durably; sign checkpoints when the policy says so, or on demand.

    A store whose commit failed (a full or failing disk) refuses every later append, because its
    files and its tree may disagree. The ledger heals itself: the next call reopens the store from
    disk, which cuts a torn tail and rebuilds the tree and index (the same recovery as after a
    crash), and records what was cut as a `ledger.recovered` entry. While the fault lasts the
    reopen fails too, and the call raises; nothing acknowledged was lost, since an append is
    acknowledged only after it is durable.
    """

    def __init__(self, store: LedgerStore, signer: SigningKey, policy: CheckpointPolicy) -> None:
        self.store = store
        self.signer = signer
        self.policy = policy
        self.recoveries = 0
        # Appends are thread-safe in the store (group commit); signing is not: two threads due
        # at once would both sign, and the second checkpoint would fail its successor check
        # after its entries were already durable.
        self._checkpointing = threading.Lock()
        self._heal_lock = threading.Lock()

    def _heal(self, now: datetime) -> None:
        store = self.store
        if store.broken is None:
            return
        with self._heal_lock:
            if self.store is not store:
                return  # another thread reopened it meanwhile
            cause = store.broken
            with contextlib.suppress(OSError):
                store.close(clean=False)
            fresh = LedgerStore.open(store.path)  # raises while the fault lasts; tried again next call
            self.store = fresh
            self.recoveries += 1
            report = fresh.report
            log.warning(
                "ledger_reopened_after_failed_commit",
                cause=f"{type(cause).__name__}: {cause}"[:300],
                cut_bytes=report.torn_tail_bytes,
                size=fresh.size,
            )
            draft = EntryDraft.create(
                now=now,
                kind="ledger.recovered",
                actor="system:ledger",
                subject="entries.log",
                payload={
                    "cause": f"{type(cause).__name__}: {cause}"[:300],
                    "cut_bytes": report.torn_tail_bytes,
                    "cut_checkpoint_bytes": report.torn_checkpoint_bytes,
                    "size": fresh.size,
                },
            )
            fresh.append_many([draft])

    @classmethod
    def open(
        cls,
        path: Path,
        signer: SigningKey,
        *,
        origin: str | None = None,
        policy: CheckpointPolicy | None = None,
    ) -> Ledger:
        """Open the ledger at `path`; with `origin`, create it when absent."""
        if origin is not None and not (path / "LEDGER").exists():
            store = LedgerStore.create(path, origin)
        else:
            store = LedgerStore.open(path)
            if origin is not None and origin != store.origin:
                store.close()
                raise AuditError(f"{path} holds ledger {store.origin!r}, not {origin!r}")
        return cls(store, signer, policy or CheckpointPolicy())

    def append(self, draft: EntryDraft, *, now: datetime) -> Receipt:
        """Append one entry durably; sign a checkpoint if one is due at `now`."""
        return self.append_many([draft], now=now)[0]

    def append_many(
        self, drafts: Sequence[EntryDraft], *, now: datetime, checkpoint: bool = True
    ) -> list[Receipt]:
        """Append entries durably (one group commit); sign a checkpoint if one is due at `now`.

        `checkpoint=False` leaves the checkpoint to the caller's `maybe_checkpoint`: an appender
        that holds a lock of its own while appending (a state-store transaction) signs after
        releasing it, instead of making every other writer wait for the key index and SM2.
        """
        self._heal(now)
        receipts = self.store.append_many(drafts)
        if checkpoint:
            self.maybe_checkpoint(now=now)
        return receipts

    def maybe_checkpoint(self, *, now: datetime) -> SignedCheckpoint | None:
        """Sign a checkpoint when the policy says one is due at `now`.

        Checkpoint times strictly increase, so a batch appended at the `now` of the previous
        checkpoint defers the next one to a later `now` instead of failing the append.
        """
        self._heal(now)
        with self._checkpointing:
            # Decided under the lock: concurrent appenders at one `now` sign one checkpoint, not two.
            last = self.store.latest_checkpoint()
            if last is not None and now <= last.checkpoint.when():
                return None
            if self.policy.due(last.checkpoint if last else None, self.store.size, now):
                return self._checkpoint(now)
            return None

    def checkpoint_tail(self, *, now: datetime) -> SignedCheckpoint | None:
        """Sign a checkpoint when entries exist that no checkpoint covers yet, or the newest one
        predates the key index (e.g. before export); decided under the checkpoint lock."""
        self._heal(now)
        with self._checkpointing:
            last = self.store.latest_checkpoint()
            covered = last is not None and last.checkpoint.size == self.store.size
            if self.store.size == 0 or (covered and last.checkpoint.index_root is not None):  # type: ignore[union-attr]
                return None
            return self._checkpoint(now)

    def checkpoint(self, *, now: datetime) -> SignedCheckpoint:
        """Sign and persist a checkpoint of the current tree and key index (on demand).

        One at a time: the index is sealed at exactly the size signed, and times strictly increase
        (checked before sealing, so a refused checkpoint leaves the index as it was).
        """
        self._heal(now)
        with self._checkpointing:
            return self._checkpoint(now)

    def _checkpoint(self, now: datetime) -> SignedCheckpoint:
        """Sign and persist; the caller holds the checkpoint lock."""
        store = self.store
        size = store.size
        last = store.latest_checkpoint()
        if last is not None and format_ts(now) <= last.checkpoint.time:
            raise CheckpointError(f"checkpoint time {format_ts(now)} is not after {last.checkpoint.time}")
        root = store.tree.root(size)
        Checkpoint.create(
            origin=store.origin, size=size, root=root, now=now, index_root=bytes(32)
        )  # validates
        index_root = store.index.seal(size)
        try:
            cp = Checkpoint.create(origin=store.origin, size=size, root=root, now=now, index_root=index_root)
            signed = SignedCheckpoint.sign(cp, self.signer)
            store.add_checkpoint(signed)
        except BaseException as exc:
            # The index is sealed at a size no checkpoint records: a reopen rebuilds it consistently.
            store.mark_broken(exc)
            raise
        return signed

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of entry `seq` in the tree of `size` (default: current size)."""
        return self.store.tree.inclusion_proof(seq, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from `size1` to `size2` (default: current size)."""
        return self.store.tree.consistency_proof(size1, size2)

    def close(self) -> None:
        """Close the store cleanly."""
        self.store.close()
