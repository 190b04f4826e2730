"""Back-pressure: how far the slowest configured consumer lags behind the events topic.

Lag = end of the `events` topic - the smallest committed offset among the configured consumers
(a consumer that never committed counts from the retained start). Past `limit` the HTTP input
answers 429 with `Retry-After` and the TCP syslog input stops reading its sockets, so the kernel's
receive window closes on the sender instead of memory growing here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from collectors.inputs.errors import InputConfigError
from datasoc.logging import get_logger
from datasoc.transport import EVENTS, TopicRange, TransportError

log = get_logger("backpressure")
#: How long a lag the transport could not tell stays as it was before it is asked again.
UNKNOWN_RETRY = timedelta(seconds=5)


class LagSource(Protocol):
    """What the monitor reads from the transport (the spool has both)."""

    def range(self, topic: str) -> TopicRange: ...

    def consumer_offsets(self, topic: str) -> dict[str, int]: ...


def transport_lag(topic: TopicRange, committed: Mapping[str, int], consumers: Sequence[str]) -> int:
    """Records the slowest of `consumers` still has to read (0 with no consumers configured)."""
    if not consumers:
        return 0
    slowest = min(max(committed.get(name, topic.start), topic.start) for name in consumers)
    return max(0, topic.end - slowest)


@dataclass(frozen=True, slots=True)
class BackPressureConfig:
    """Which consumers count, how much lag is too much, and how often to look again."""

    consumers: tuple[str, ...] = ("indexer",)
    limit: int = 1_000_000
    refresh: timedelta = timedelta(milliseconds=200)
    retry_after_seconds: int = 1

    def __post_init__(self) -> None:
        if self.limit < 0 or self.retry_after_seconds < 1:
            raise InputConfigError("collect.backpressure", "limit must be >= 0 and retry_after_seconds >= 1")


class LagMonitor:
    """Caches the lag for `refresh` so a busy input reads the offset files a few times a second."""

    def __init__(self, source: LagSource, config: BackPressureConfig, *, topic: str = EVENTS) -> None:
        self._source = source
        self.config = config
        self._topic = topic
        self._lock = threading.Lock()
        self._checked: datetime | None = None
        self._retry_at: datetime | None = None
        self._lag = 0
        self.rejections = 0
        self.pauses = 0
        #: Lag checks the transport could not answer.
        self.unknown = 0

    def lag(self, now: datetime) -> int:
        """Current lag, recomputed when the cached value is older than `refresh`.

        A transport that cannot say (Kafka's brokers away) keeps the last value and is asked again
        only after `UNKNOWN_RETRY`: the check runs on the inputs' event loop and must not stall
        it, and the append itself then refuses with 503 anyway."""
        with self._lock:
            stale = self._checked is None or now - self._checked >= self.config.refresh or now < self._checked
            if stale and (self._retry_at is None or not now < self._retry_at):
                self._checked = now
                self._retry_at = None
                try:
                    committed = self._source.consumer_offsets(self._topic)
                    span = self._source.range(self._topic)
                except TransportError as exc:
                    self.unknown += 1
                    self._retry_at = now + UNKNOWN_RETRY
                    log.warning("transport_lag_unknown", error=str(exc)[:300], times=self.unknown)
                    return self._lag
                self._lag = transport_lag(span, committed, self.config.consumers)
            return self._lag

    def overloaded(self, now: datetime) -> bool:
        """True when the lag is past the limit."""
        return self.lag(now) > self.config.limit

    async def wait_clear(self, clock: Callable[[], datetime], *, poll: float = 0.05) -> bool:
        """Sleep while overloaded (the caller stops reading meanwhile); True if it had to wait."""
        waited = False
        while self.overloaded(clock()):
            if not waited:
                waited = True
                self.pauses += 1
            await asyncio.sleep(poll)
        return waited
