"""Source health: per-source counters, events per second, silence alerts and Prometheus metrics.

Pure bookkeeping: every method takes `now`; inputs call `record` after each durable append (or
rejection) and the service asks `snapshot(now)` for the API and `check_silence(now)` on a timer.
A log source that stops sending is itself an incident (MLPS 2.0 level 3, GB/T 22239-2019
8.1.4.3 d): the audit process shall be protected from unauthorized interruption), so a source silent past its
`expected_interval` raises one `datasoc-source-silent` alert per silence episode.

Silence episodes: a source is silent when `now - last_seen > expected_interval` (a source never
seen counts from when the tracker first heard of it: its first `record` or the tracker's first
call). The alert is raised once when an episode starts; data arriving ends the episode; going
silent again starts a new one and raises again.

Alert `event_ids` must be non-empty, but silence has no triggering event: the alert carries one
synthetic id, `silence:<source>:<episode start RFC 3339>`, where the episode starts at the
source's last seen time (or tracking start). It names what went quiet and when, and is stable,
so a re-raised check (after a restart of the service) deduplicates on it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collectors.errors import CollectorError
from datasoc.alert import Alert, warning_level
from datasoc.event import format_timestamp

SILENCE_RULE_ID: Final = "datasoc-source-silent"
SILENCE_RULE_TITLE: Final = "Log source went silent"
SILENCE_LEVEL: Final = "high"
# GB/T 22239-2019 (MLPS 2.0) 8.1.4.3 d) security audit must not be interrupted; T1562.002
# (Impair Defenses: Disable Windows Event Logging) and T1562.006 (Indicator Blocking) are what a
# silent source often means.
SILENCE_TAGS: Final = ("mlps.8.1.4.3", "attack.defense_evasion", "attack.t1562.006")


class HealthError(CollectorError, ValueError):
    """A health call got an impossible argument (negative counts, time going backwards)."""


@dataclass(frozen=True)
class SourceConfig:
    """A source the tracker watches; `expected_interval` None means it may be silent for ever."""

    name: str
    expected_interval: timedelta | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise HealthError("source name must not be empty")
        if self.expected_interval is not None and self.expected_interval <= timedelta(0):
            raise HealthError(f"source {self.name}: expected_interval must be positive")


@dataclass(frozen=True)
class SourceHealth:
    """One source's health at a moment (what the API returns)."""

    name: str
    last_seen: datetime | None
    events_per_second: float
    error_rate: float
    bytes_total: int
    accepted_total: int
    rejected_total: int
    silent: bool


@dataclass
class _Source:
    first_heard: datetime
    last_seen: datetime | None = None
    accepted: int = 0
    rejected: int = 0
    bytes_: int = 0
    # (time, accepted, rejected) per `record` call inside the window, oldest first.
    recent: deque[tuple[datetime, int, int]] = field(default_factory=deque)
    alerted_episode: datetime | None = None


class HealthTracker:
    """Per-source health bookkeeping (see module docstring); not thread-safe, one per input loop."""

    def __init__(
        self, sources: Mapping[str, SourceConfig] | None = None, window: timedelta = timedelta(seconds=60)
    ) -> None:
        if window <= timedelta(0):
            raise HealthError("window must be positive")
        self._configs: dict[str, SourceConfig] = dict(sources or {})
        for key, config in self._configs.items():
            if key != config.name:
                raise HealthError(f"sources[{key!r}] names a different source {config.name!r}")
        self._window = window
        self._sources: dict[str, _Source] = {}

    def _state(self, name: str, now: datetime) -> _Source:
        state = self._sources.get(name)
        if state is None:
            state = self._sources[name] = _Source(first_heard=now)
        return state

    def _start(self, now: datetime) -> None:
        for name in self._configs:  # configured sources count their silence from the first call
            self._state(name, now)

    def record(self, source: str, *, now: datetime, accepted: int, rejected: int, bytes_: int) -> None:
        """Count what `source` delivered at `now` (accepted = durably appended events)."""
        if min(accepted, rejected, bytes_) < 0:
            raise HealthError(f"source {source}: counts must not be negative")
        self._start(now)
        state = self._state(source, now)
        if state.last_seen is not None and now < state.last_seen:
            raise HealthError(f"source {source}: time went backwards ({now} < {state.last_seen})")
        state.accepted += accepted
        state.rejected += rejected
        state.bytes_ += bytes_
        if accepted or rejected or bytes_:
            state.last_seen = now
            state.alerted_episode = None  # data returned: the silence episode, if any, is over
            state.recent.append((now, accepted, rejected))
        self._trim(state, now)

    def _trim(self, state: _Source, now: datetime) -> None:
        while state.recent and state.recent[0][0] <= now - self._window:
            state.recent.popleft()

    def _silent_since(self, name: str, state: _Source, now: datetime) -> datetime | None:
        config = self._configs.get(name)
        if config is None or config.expected_interval is None:
            return None
        since = state.last_seen or state.first_heard
        return since if now - since > config.expected_interval else None

    def snapshot(self, now: datetime) -> list[SourceHealth]:
        """Health of every known source, sorted by name."""
        self._start(now)
        out: list[SourceHealth] = []
        seconds = self._window.total_seconds()
        for name in sorted(self._sources):
            state = self._sources[name]
            self._trim(state, now)
            accepted = sum(a for _, a, _ in state.recent)
            rejected = sum(r for _, _, r in state.recent)
            total = accepted + rejected
            out.append(
                SourceHealth(
                    name=name,
                    last_seen=state.last_seen,
                    events_per_second=accepted / seconds,
                    error_rate=rejected / total if total else 0.0,
                    bytes_total=state.bytes_,
                    accepted_total=state.accepted,
                    rejected_total=state.rejected,
                    silent=self._silent_since(name, state, now) is not None,
                )
            )
        return out

    def check_silence(self, now: datetime) -> list[Alert]:
        """New alerts for sources whose silence episode started since the last check."""
        self._start(now)
        alerts: list[Alert] = []
        for name in sorted(self._sources):
            state = self._sources[name]
            since = self._silent_since(name, state, now)
            if since is None or state.alerted_episode == since:
                continue
            state.alerted_episode = since
            alerts.append(silence_alert(name, since=since, now=now))
        return alerts

    def collect_metrics(self) -> list[Metric]:
        """Prometheus metric families of every source (values as of the last call with `now`)."""
        accepted = CounterMetricFamily(
            "datasoc_source_events_accepted", "Events durably accepted per source.", labels=["source"]
        )
        rejected = CounterMetricFamily(
            "datasoc_source_events_rejected",
            "Records sent to the dead-letter topic per source.",
            labels=["source"],
        )
        received = CounterMetricFamily(
            "datasoc_source_bytes_received", "Raw bytes received per source.", labels=["source"]
        )
        last_seen = GaugeMetricFamily(
            "datasoc_source_last_seen_seconds", "Unix time a source last delivered data.", labels=["source"]
        )
        eps = GaugeMetricFamily(
            "datasoc_source_events_per_second",
            "Accepted events per second over the tracker's window.",
            labels=["source"],
        )
        seconds = self._window.total_seconds()
        for name in sorted(self._sources):
            state = self._sources[name]
            accepted.add_metric([name], state.accepted)
            rejected.add_metric([name], state.rejected)
            received.add_metric([name], state.bytes_)
            if state.last_seen is not None:
                last_seen.add_metric([name], state.last_seen.timestamp())
            eps.add_metric([name], sum(a for _, a, _ in state.recent) / seconds)
        return [accepted, rejected, received, last_seen, eps]


class HealthMetrics(Collector):
    """A prometheus_client custom collector over a tracker: `registry.register(HealthMetrics(t))`."""

    def __init__(self, tracker: HealthTracker) -> None:
        self._tracker = tracker

    def collect(self) -> Iterator[Metric]:
        """Yield the tracker's metric families (called by the registry on each scrape)."""
        yield from self._tracker.collect_metrics()


def silence_alert(source: str, *, since: datetime, now: datetime) -> Alert:
    """The alert for `source` silent since `since`; its one event id is synthetic (module docstring)."""
    episode = f"silence:{source}:{format_timestamp(since)}"
    # Source names are free text; a digest keeps the alert id inside the contract's 128 characters.
    digest = hashlib.sha256(episode.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return Alert.from_dict(
        {
            "alert.id": f"alert-silence-{digest}",
            "rule.id": SILENCE_RULE_ID,
            "rule.title": SILENCE_RULE_TITLE,
            "rule.level": SILENCE_LEVEL,
            "rule.tags": list(SILENCE_TAGS),
            "warning_level": warning_level(SILENCE_LEVEL, None),
            "group": {"source": source, "silent_since": format_timestamp(since)},
            "event_ids": [episode],
            "first_seen": since,
            "last_seen": now,
            "count": 1,
        },
        where=f"silence alert for {source}",
    )
