"""What the local receivers processed: each notification once, by its idempotency key.

A receiver that gets a key again answers as it did the first time and counts a duplicate; the
notification is *processed* once. `Inbox` is thread-safe and may append what it processes to a
JSON-lines file (so another process, or the demo's printout, can read it).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One processed notification: the channel kind, its key, the alert (if any) and a summary."""

    channel: str
    key: str
    alert_id: str | None
    kind: str
    summary: dict[str, Any]
    #: Wall time (unix seconds) the receiver processed it.
    received_at: float = field(default_factory=time.time)


@dataclass
class Inbox:
    """Processed notifications by key, duplicates counted, refusals kept with their reason."""

    path: Path | None = None
    processed: dict[str, Received] = field(default_factory=dict)
    duplicates: Counter[str] = field(default_factory=Counter)
    refused: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, item: Received) -> bool:
        """Process `item` unless its key was processed before; True when it is new."""
        with self._lock:
            if item.key in self.processed:
                self.duplicates[item.key] += 1
                return False
            self.processed[item.key] = item
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as handle:
                    line = {
                        "channel": item.channel,
                        "key": item.key,
                        "alert_id": item.alert_id,
                        "kind": item.kind,
                        "received_at": item.received_at,
                        **item.summary,
                    }
                    handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            return True

    def refuse(self, channel: str, reason: str) -> None:
        """A request the receiver refused (bad signature, malformed body, too large)."""
        with self._lock:
            self.refused.append((channel, reason))

    def by_channel(self, channel: str) -> list[Received]:
        """Processed notifications of one channel kind, in arrival order."""
        with self._lock:
            return [r for r in self.processed.values() if r.channel == channel]

    def count(self) -> int:
        """Notifications processed."""
        with self._lock:
            return len(self.processed)
