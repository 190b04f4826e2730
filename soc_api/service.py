"""The platform's background work, one pass at a time: index, trace, detect, checkpoint, retention.

`run_pass` is what `datasoc run` does every interval (and `--once`): everything takes `now`.
Detection is the engine the platform was opened with: the in-process `Detector`, or the Flink job's
`StreamRunner`, whose `tick` exports new events to the job and moves checkpoint-committed alerts
into the `alerts` topic (the job itself is started and stopped by `start_detection`/`stop_detection`;
`catch_up` and `drain` wait for it, taking a clock and a sleep).
`ledger_security_event` turns the collectors' security decisions (bad token, refused client
certificate) into ledger entries, so a denial is logged *and* ledgered.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from audit.entry import EntryDraft
from collectors.sink import TransportSink
from datasoc.errors import DatasocError
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, EVENTS, Transport
from soc_api.detector import DetectReport, encode_alert
from soc_api.indexer import IndexReport, index_pending
from soc_api.platform import Platform, file_tails, stream_dir
from soc_api.trail import TrailReport, trace_pending

if TYPE_CHECKING:
    from soc_api.stream.runner import StreamRunner

log = get_logger("service")
RETENTION_EVERY = timedelta(hours=1)
#: How long `catch_up` and `drain` wait for the job by default (start-up alone is 10 to 15 s).
JOB_WAIT = timedelta(minutes=5)
_POLL_SECONDS = 0.2


class DetectionStalledError(DatasocError):
    """The detection job did not reach the awaited position in time (not running, or too slow)."""


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
            detect = self._detect(now)
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

    def _detect(self, now: datetime) -> DetectReport:
        platform = self.platform
        if platform.stream is not None:
            return stream_pass(platform.stream, platform.spool, now=now)
        assert platform.detector is not None, "Platform.open sets a detector or a stream"
        return platform.detector.run_pass(platform.spool, now=now)

    def start_detection(self) -> None:
        """Start the Flink job, resuming from its last retained checkpoint (no-op in process)."""
        stream = self.platform.stream
        if stream is None:
            return
        with self._lock:
            started = stream.start(resume=True)
        if stream.skipped_checkpoint is not None:
            log.warning(
                "detection_state_layout_changed",
                skipped_checkpoint=str(stream.skipped_checkpoint),
                detail="the job starts without state and evaluates every retained event again",
            )
        log.info(
            "detection_job_started",
            restored_from=started.restore_from,
            jobmanager=started.jobmanager or "embedded",
            parallelism=started.parallelism,
            execution_mode=started.execution_mode,
        )

    def stop_detection(self) -> None:
        """Cancel the Flink job (its checkpoints are retained for the next start); no-op in process."""
        stream = self.platform.stream
        if stream is None:
            return
        with self._lock:
            try:
                stream.stop()
            except Exception as exc:  # PyFlink's errors are plain exceptions (a failed job refuses cancel)
                log.error("detection_job_stop_failed", error=str(exc)[:500], error_type=type(exc).__name__)
        log.info("detection_job_stopped", progress=stream.progress, health=dict(stream.health.counts))

    def catch_up(
        self, clock: Callable[[], datetime], sleep: Callable[[float], None], *, timeout: timedelta = JOB_WAIT
    ) -> DetectReport:
        """Detect until every event now in the spool is evaluated and its alerts are committed.

        In process that is one pass; with the Flink job, ticks until `progress` reaches the end of
        `events` as it was when called. Raises `DetectionStalledError` after `timeout` (by `clock`).
        """
        with self._lock:
            if self.platform.stream is None:
                return self._detect(clock())
            events = self.platform.spool.range(EVENTS)
            if events.end == events.start:
                return _report(0, {}, events.end, read=0)  # nothing to wait for (no batch, no progress)

            def caught_up(runner: StreamRunner, _now: datetime) -> bool:
                return runner.progress is not None and runner.progress >= events.end

            return self._tick_until(caught_up, clock, sleep, timeout, f"offset {events.end}")

    def drain(
        self, clock: Callable[[], datetime], sleep: Callable[[float], None], *, timeout: timedelta = JOB_WAIT
    ) -> DetectReport:
        """End of input (demo): `catch_up`, then close every open correlation window and wait until
        the alerts that closing raised are committed. The job's event time is at its end afterwards.

        With the job: the flush's heartbeat carries the end of time in band through the correlations,
        so once its batch marker is committed (`StreamRunner.flushed`), so is every alert it raised.
        """
        first = self.catch_up(clock, sleep, timeout=timeout)
        with self._lock:
            platform = self.platform
            if platform.stream is None:
                assert platform.detector is not None
                closing = platform.detector.flush()
                if closing:
                    platform.spool.append(ALERTS, [encode_alert(a) for a in closing], now=clock())
                levels = Counter(str(a.warning_level) for a in closing)
                return _sum(first, _report(len(closing), levels, first.committed_offset, read=0))
            stream = platform.stream
            stream.flush()

            def closed(runner: StreamRunner, _now: datetime) -> bool:
                return runner.flushed

            rest = self._tick_until(closed, clock, sleep, timeout, "the end of the flushed windows")
        return _sum(first, rest)

    def _tick_until(
        self,
        done: Callable[[StreamRunner, datetime], bool],
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        timeout: timedelta,
        what: str,
    ) -> DetectReport:
        stream = self.platform.stream
        assert stream is not None
        deadline = clock() + timeout
        total = _report(0, {}, stream.progress or 0, read=0)
        while True:
            now = clock()
            total = _sum(total, stream_pass(stream, self.platform.spool, now=now))
            if done(stream, now):
                return total
            if now >= deadline:
                raise DetectionStalledError(
                    f"the detection job did not reach {what} within {timeout.total_seconds():.0f} s "
                    f"(evaluated up to offset {stream.progress}); its logs are in "
                    f"{stream_dir(self.platform.settings) / 'log'}"
                )
            sleep(_POLL_SECONDS)

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


def stream_pass(runner: StreamRunner, transport: Transport, *, now: datetime) -> DetectReport:
    """One tick of the Flink job's runner, reported like an in-process pass: events the job has
    evaluated since the last tick, and the committed alerts it moved into `alerts`, by warning level."""
    before = runner.progress
    changes_seen = len(runner.health.rule_changes)
    commit = runner.tick(now=now)
    status = runner.job_status()
    if status in ("FAILED", "CANCELED", "SUSPENDED", "RESTARTING"):
        # A job that is not running commits nothing: say so on every pass, not once.
        log.error("detection_job_not_running", status=status, progress=runner.progress)
    for change in runner.health.rule_changes[changes_seen:]:
        # The job validates every rule of a change; a rejected rule is not running: say so loudly.
        if change.get("rejected"):
            log.error("rules_rejected_by_job", version=change.get("version"), rejected=change["rejected"])
        log.info(
            "rules_applied",
            version=change.get("version"),
            accepted=len(change.get("accepted") or ()),
            disabled=len(change.get("disabled") or ()),
        )
    levels = commit.by_level  # counted as the committer appended them (each alert decoded once)
    if commit.invalid:
        log.error("job_alerts_dead_lettered", invalid=commit.invalid)
    after = runner.progress
    if after is None:
        return _report(commit.appended, levels, 0, read=0)
    read = after - (before if before is not None else transport.range(EVENTS).start)
    return _report(commit.appended, levels, after, read=max(read, 0))


def rules_not_running(platform: Platform) -> dict[str, tuple[str, ...]]:
    """Rule keys that failed validation and are not active, with their errors (either engine)."""
    if platform.stream is None:
        assert platform.detector is not None
        found: dict[str, tuple[str, ...]] = {}
        for error in platform.detector.rules.errors:
            key = str(error.file) if error.file is not None else "<rules>"
            found[key] = (*found.get(key, ()), str(error))
        return found
    rejected: dict[str, tuple[str, ...]] = {}
    for change in platform.stream.health.rule_changes:  # in version order: the latest outcome wins
        for key in [*(change.get("accepted") or ()), *(change.get("disabled") or ())]:
            rejected.pop(key, None)
        for key, errors in (change.get("rejected") or {}).items():
            rejected[key] = tuple(errors)
    return rejected


def _report(alerts: int, levels: Mapping[str, int], offset: int, *, read: int) -> DetectReport:
    return DetectReport(read=read, alerts=alerts, by_warning_level=dict(levels), committed_offset=offset)


def _sum(a: DetectReport, b: DetectReport) -> DetectReport:
    levels = Counter(a.by_warning_level)
    levels.update(b.by_warning_level)
    return _report(a.alerts + b.alerts, levels, b.committed_offset, read=a.read + b.read)


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
