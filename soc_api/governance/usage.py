"""Where the engines get their grants and keep their cumulative records (the trace's state).

- `StoreGrants`: the grant book of the governance store, rebuilt only when the grants counter moved
  (one small read per call). Each consumer (trail, in-process detector, the Flink job's grant sync) holds
  its own, so no lock is shared between their threads.
- `UsageFile`: the in-process detector's cumulative records per grant, saved durably with the spool
  offset they count up to, after the batch's alerts are appended and before the consumer commits
  (restart semantics in `soc_api.detector`).
- `LedgerUsage`: the trail's cumulative records, seeded per grant from the ledger itself (the newest
  `access` entry of the grant carries `trace.used`), so the trail needs no state of its own.
- `LedgerFigures`: what an approver sees of a requester's record (violations among their accesses).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from audit.ledger import Ledger
from datasoc.grants import GrantBook
from datasoc.state import StateStore
from datasoc.transport.offsets import write_durably
from soc_api.governance.access_store import AccessStore

USAGE_FORMAT: Final = "datasoc-grant-usage/1"


class StoreGrants:
    """The store's grant book, rebuilt when it changed (see module docstring)."""

    def __init__(self, state: StateStore) -> None:
        self._store = AccessStore(state)
        self._book = GrantBook(version=-1)

    def book(self) -> GrantBook:
        """The current book."""
        if self._store.grants_version() != self._book.version:
            self._book = self._store.book()
        return self._book


@dataclass(frozen=True)
class UsageSnapshot:
    """Cumulative records per grant over every event before `offset`."""

    offset: int
    used: dict[str, int] = field(default_factory=dict)


class UsageFile:
    """A `UsageSnapshot` on disk (JSON, written to a temporary file, fsynced and renamed)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> UsageSnapshot | None:
        """The saved snapshot, or None when there is none (a file of another format is an error)."""
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        if not isinstance(data, dict) or data.get("format") != USAGE_FORMAT:
            raise ValueError(f"{self.path}: not a {USAGE_FORMAT} file")
        used = data.get("used", {})
        if not isinstance(used, dict) or not all(isinstance(v, int) for v in used.values()):
            raise ValueError(f"{self.path}: used must map grant ids to integers")
        return UsageSnapshot(int(data["offset"]), {str(k): int(v) for k, v in used.items()})

    def save(self, snapshot: UsageSnapshot) -> None:
        """Write durably (the directory is created owner-only)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = {"format": USAGE_FORMAT, "offset": snapshot.offset, "used": snapshot.used}
        write_durably(self.path, json.dumps(body, sort_keys=True).encode(), os.fsync)


def last_used(ledger: Ledger, grant_id: str, *, scan: int = 10_000) -> int:
    """Cumulative records under a grant as the trail last ledgered them (0 when none): the newest
    `access` entry of the grant's index key that carries `trace.used`."""
    store = ledger.store
    with store.index.lock:
        seqs = store.index.lookup(f"grant:{grant_id}")
    for seq in reversed(seqs[-scan:]):
        entry = json.loads(store.read_raw(seq))
        if entry.get("kind") == "access" and isinstance(entry["payload"].get("trace.used"), int):
            return int(entry["payload"]["trace.used"])
    return 0


class LedgerUsage:
    """The trail's `UsageStore`: counts seeded from the ledger, changes held in an overlay until the batch
    that made them is durable (`commit`), dropped when its append failed (`rollback`)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._known: dict[str, int] = {}
        self._overlay: dict[str, int] = {}

    def get(self, grant_id: str) -> int:
        if grant_id in self._overlay:
            return self._overlay[grant_id]
        if grant_id not in self._known:
            self._known[grant_id] = last_used(self._ledger, grant_id)
        return self._known[grant_id]

    def put(self, grant_id: str, used: int) -> None:
        self._overlay[grant_id] = used

    def commit(self) -> None:
        """The batch is in the ledger: its counts stand."""
        self._known.update(self._overlay)
        self._overlay.clear()

    def rollback(self) -> None:
        """The batch was not ledgered: forget its counts (it will be traced again)."""
        self._overlay.clear()


class LedgerFigures:
    """A person's record in the ledger, for the approver (`access.TrailFigures`)."""

    def __init__(self, ledger: Ledger, *, scan: int = 10_000) -> None:
        self._ledger = ledger
        self._scan = scan

    def violations(self, user: str) -> int:
        """Violations among the person's newest `scan` ledger entries (their accesses)."""
        store = self._ledger.store
        with store.index.lock:
            seqs = store.index.lookup(f"actor:{user}")
        found = 0
        for seq in seqs[-self._scan :]:
            payload = json.loads(store.read_raw(seq)).get("payload", {})
            found += payload.get("trace.verdict") == "violation"
        return found
