"""INTERIM alert source for the console: the spool's `alerts` topic, read-only.

Issue 17 (`alerting`) builds the alert store with grouping, a lifecycle and its own live feed; when
it lands, it implements `AlertFeed` (or replaces the `/api/v1/alerts` routes) and this module goes.
Until then the console reads alerts as the detection engines commit them: `SpoolAlertFeed` folds
new records of the topic in on each call (thread-safe, at most `keep` alerts kept, oldest dropped),
deduplicated by `alert.id` (an engine may commit the same alert twice after a restart: the first
copy wins, as in `datasoc demo`'s summary). Each alert gets a `position`: the spool offset of its
first copy, increasing with arrival, which the live stream (`routes/alerts.py`) uses as its cursor.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from datasoc.alert import Alert
from datasoc.errors import DatasocError
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, OffsetOutOfRangeError, Transport
from soc_api.detector import decode_alert

log = get_logger("alertfeed")


@dataclass(frozen=True, slots=True)
class FedAlert:
    """An alert and where it arrived (`position`: increasing with arrival)."""

    position: int
    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """Filters of the alert queue, AND-ed; newest first, before `before` (a position) when given."""

    warning_level: str | None = None
    rule_id: str | None = None
    status: str | None = None
    text: str | None = None
    since: datetime | None = None
    before: int | None = None
    limit: int = 50

    def matches(self, fed: FedAlert) -> bool:
        """Whether `fed` passes every filter (`before` included)."""
        alert = fed.alert
        if self.before is not None and fed.position >= self.before:
            return False
        if self.warning_level is not None and alert.warning_level != self.warning_level:
            return False
        if self.rule_id is not None and alert.rule_id != self.rule_id:
            return False
        if self.status is not None and alert.status != self.status:
            return False
        if self.since is not None and alert.last_seen < self.since:
            return False
        if self.text:
            haystack = " ".join(
                [alert.rule_title, alert.rule_id, *(str(v) for v in alert.group.values())]
            ).lower()
            if not all(word in haystack for word in self.text.lower().split()):
                return False
        return True


class AlertFeed(Protocol):
    """What the console's alert routes read (the seam issue 17's alert store takes over)."""

    def search(self, query: AlertQuery) -> list[FedAlert]:
        """Matching alerts, newest first, at most `query.limit`."""

    def get(self, alert_id: str) -> FedAlert | None:
        """One alert by id."""

    def after(self, position: int, limit: int) -> list[FedAlert]:
        """Alerts that arrived after `position`, oldest first (for the live stream)."""

    def head(self) -> int:
        """The position of the newest alert (-1 when there is none)."""


class SpoolAlertFeed:
    """`AlertFeed` over the spool's alerts topic (see the module docstring)."""

    def __init__(self, transport: Transport, *, keep: int = 50_000, batch: int = 1000) -> None:
        self._transport = transport
        self._keep = keep
        self._batch = batch
        self._lock = threading.Lock()
        self._next = 0
        self._alerts: OrderedDict[str, FedAlert] = OrderedDict()
        self.invalid = 0

    def _refresh(self) -> None:
        """Fold in what the topic gained since the last call (bounded per call by the topic's size)."""
        while True:
            try:
                records = self._transport.read(ALERTS, self._next, self._batch)
            except OffsetOutOfRangeError:
                self._next = self._transport.range(ALERTS).start  # retention went past us: start over
                continue
            if not records:
                return
            for record in records:
                try:
                    alert = decode_alert(record.payload)
                except (DatasocError, ValueError) as exc:
                    # Never silent: counted and logged; the committers dead-letter bad alerts already.
                    self.invalid += 1
                    log.warning("alert_unreadable", offset=record.offset, error=str(exc)[:200])
                    continue
                if alert.alert_id not in self._alerts:
                    self._alerts[alert.alert_id] = FedAlert(record.offset, alert)
            self._next = records[-1].offset + 1
            while len(self._alerts) > self._keep:
                self._alerts.popitem(last=False)

    def search(self, query: AlertQuery) -> list[FedAlert]:
        """See `AlertFeed.search`."""
        with self._lock:
            self._refresh()
            found: list[FedAlert] = []
            for fed in reversed(self._alerts.values()):
                if query.matches(fed):
                    found.append(fed)
                    if len(found) >= query.limit:
                        break
            return found

    def get(self, alert_id: str) -> FedAlert | None:
        """See `AlertFeed.get`."""
        with self._lock:
            self._refresh()
            return self._alerts.get(alert_id)

    def after(self, position: int, limit: int) -> list[FedAlert]:
        """See `AlertFeed.after`."""
        with self._lock:
            self._refresh()
            newer: list[FedAlert] = []
            for fed in reversed(self._alerts.values()):
                if fed.position <= position:
                    break
                newer.append(fed)
            return list(reversed(newer))[:limit]

    def head(self) -> int:
        """See `AlertFeed.head`."""
        with self._lock:
            self._refresh()
            if not self._alerts:
                return -1
            return next(reversed(self._alerts.values())).position

    def all(self) -> Sequence[FedAlert]:
        """Every kept alert, oldest first (for the overview's counts)."""
        with self._lock:
            self._refresh()
            return list(self._alerts.values())
