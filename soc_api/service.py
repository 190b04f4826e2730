"""The platform's background work, one pass at a time: index, trace, checkpoint, retention.

`run_pass` is what `datasoc run` does every interval (and `--once`): everything takes `now`.
`security_event_to_ledger` turns the collectors' security decisions (bad token, refused client
certificate) into ledger entries, so a denial is logged *and* ledgered.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from audit.entry import EntryDraft
from collectors.sink import TransportSink
from datasoc.errors import DatasocError
from datasoc.logging import get_logger
from soc_api.detector import DetectReport
from soc_api.indexer import IndexReport, index_pending
from soc_api.platform import Platform, file_tails
from soc_api.trail import TrailReport, trace_pending

log = get_logger("service")
RETENTION_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class PassReport:
    """What one pass did."""

    index: IndexReport
    trail: TrailReport
    detect: DetectReport
    checkpointed: bool
    retention_ran: bool


class Background:
    """Serialises passes over one platform; safe to call from the loop thread and from handlers."""

    def __init__(self, platform: Platform, *, new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.platform = platform
        self._lock = threading.Lock()
        self._last_retention: datetime | None = None
        self._new_id = new_id
        self._tails = file_tails(platform.settings, TransportSink(platform.spool))

    def run_pass(self, now: datetime) -> PassReport:
        """Index, trace accesses into the ledger, detect, checkpoint if due, retention hourly."""
        with self._lock:
            platform = self.platform
            for tail in self._tails:
                tailed = tail.poll(now=now, new_id=self._new_id)
                if tailed.truncations or tailed.rotations or tailed.lost:
                    log.warning(
                        "tail_restarted", source=tail.source, rotations=tailed.rotations, lost=tailed.lost
                    )
            index = index_pending(platform.spool, platform.store, now=now)
            trail = trace_pending(platform.spool, platform.ledger, platform.keys.sealing_key, now=now)
            detect = platform.detector.run_pass(platform.spool, now=now)
            signed = platform.ledger.maybe_checkpoint(now=now)
            retention_ran = self._last_retention is None or now - self._last_retention >= RETENTION_EVERY
            if retention_ran:
                purge, spool_report = platform.retention(now)
                log.info("retention", purged=purge.purged, spool_deleted=spool_report.deleted_records)
                self._last_retention = now
        if index.read or trail.ledgered or detect.alerts:
            log.info(
                "pass",
                read=index.read,
                stored=index.stored,
                rejected=index.rejected,
                traced=trail.ledgered,
                alerts=detect.alerts,
            )
        return PassReport(
            index=index,
            trail=trail,
            detect=detect,
            checkpointed=signed is not None,
            retention_ran=retention_ran,
        )

    def ledger_security_event(self, record: Mapping[str, Any], now: datetime) -> None:
        """Ledger a collector's security decision (`{"kind", "actor", "subject", "payload"}`)."""
        draft = EntryDraft.create(
            now=now,
            kind=str(record["kind"]),
            actor=str(record.get("actor") or "unknown"),
            subject=str(record.get("subject") or "collector"),
            payload=dict(record.get("payload") or {}),
        )
        with self._lock:
            self.platform.ledger.append(draft, now=now)


def loop(
    background: Background, stop: threading.Event, clock: Callable[[], datetime], interval: float
) -> None:
    """Run passes every `interval` seconds until `stop`; one failing pass is logged, not fatal."""
    while True:
        try:
            background.run_pass(clock())
        except DatasocError as exc:
            log.error("pass_failed", error=str(exc), error_type=type(exc).__name__)
        if stop.wait(interval):
            return
