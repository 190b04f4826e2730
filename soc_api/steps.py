"""The platform's supervised steps: each consumer of `datasoc run` as a `supervisor.Step`.

Every step owns its cursor and does one bounded round per `run(now)` (so stopping is bounded), and
reports its lag. A retention gap (the spool's retention passed a slow consumer) follows one stated
policy, `GapPolicy`: skip to the earliest retained record, count what was skipped, log it and
write a `system.gap` ledger entry; the step then goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from audit.entry import EntryDraft
from audit.ledger import Ledger
from datasoc.logging import get_logger
from datasoc.transport import EVENTS, Consumer, OffsetOutOfRangeError, Transport
from soc_api.errors import PlatformError
from soc_api.supervisor import StepReport

if TYPE_CHECKING:
    from soc_api.detector import Detector
    from soc_api.indexer import Indexer
    from soc_api.platform import Platform
    from soc_api.stream.cluster_job import ClusterJob
    from soc_api.trail import Trail

log = get_logger("steps")


@dataclass(frozen=True, slots=True)
class Gap:
    """Records a consumer could not read because retention removed them first."""

    consumer: str
    topic: str
    skipped: int
    from_offset: int
    to_offset: int


@dataclass(frozen=True)
class GapPolicy:
    """Skip, count, log and ledger (`system.gap`): a gap is never silent, and never a stop."""

    ledger: Ledger

    def __call__(self, gap: Gap, now: datetime) -> None:
        log.error(
            "consumer_gap_skipped",
            consumer=gap.consumer,
            topic=gap.topic,
            skipped=gap.skipped,
            from_offset=gap.from_offset,
            to_offset=gap.to_offset,
        )
        draft = EntryDraft.create(
            now=now,
            kind="system.gap",
            actor=f"system:{gap.consumer}",
            subject=f"spool:{gap.topic}",
            payload={
                "consumer": gap.consumer,
                "topic": gap.topic,
                "skipped": gap.skipped,
                "from_offset": gap.from_offset,
                "to_offset": gap.to_offset,
                "reason": "spool retention removed records before this consumer read them",
            },
        )
        self.ledger.append(draft, now=now)


OnGap = Callable[[Gap, datetime], None]


def skip_gap(transport: Transport, reader: Consumer, now: datetime, on_gap: OnGap | None) -> Gap:
    """The gap policy for a consumer whose committed offset retention has passed: report the
    records from its committed offset to the retained start (ledgered by `on_gap`, first, so a
    failure to ledger it leaves everything as it was), then move and commit to the start, so the
    same gap is never counted twice."""
    start = transport.range(reader.topic).start
    gap = Gap(reader.name, reader.topic, max(start - reader.committed, 0), reader.committed, start)
    if on_gap is not None:
        on_gap(gap, now)
    reader.seek(start)
    reader.commit(start)
    return gap


def rewind(transport: Transport, reader: Consumer, now: datetime, on_gap: OnGap | None) -> None:
    """After a failed round, move `reader` back to its committed offset, so the batch it was on is
    read again; should retention have passed that offset meanwhile, the gap policy applies."""
    try:
        reader.seek(reader.committed)
    except OffsetOutOfRangeError:
        skip_gap(transport, reader, now, on_gap)


@dataclass
class IndexStep:
    """Spool `events` -> event store (see `soc_api.indexer`)."""

    indexer: Indexer
    interval: float = 0.2
    lag_bound: int | None = 200_000
    max_batches: int = 20
    name: str = "indexer"

    def run(self, now: datetime) -> StepReport:
        report = self.indexer.run(now=now, max_batches=self.max_batches)
        return StepReport(work=report.read, more=report.more, lag=report.lag)


@dataclass
class TrailStep:
    """Accesses on `events` -> `access` ledger entries (see `soc_api.trail`)."""

    trail: Trail
    interval: float = 0.2
    lag_bound: int | None = 200_000
    max_batches: int = 20
    name: str = "trail"

    def run(self, now: datetime) -> StepReport:
        report = self.trail.run(now=now, max_batches=self.max_batches)
        return StepReport(work=report.read, more=report.more, lag=report.lag)


@dataclass
class InProcessDetectionStep:
    """The in-process engine over `events`, alerts onto `alerts` (see `soc_api.detector`)."""

    detector: Detector
    transport: Transport
    on_gap: OnGap
    interval: float = 0.2
    lag_bound: int | None = 200_000
    max_batches: int = 20
    name: str = "detection"

    def run(self, now: datetime) -> StepReport:
        report = self.detector.run_pass(
            self.transport, now=now, max_batches=self.max_batches, on_gap=self.on_gap
        )
        lag = self.transport.range(EVENTS).end - report.committed_offset
        return StepReport(work=report.read, more=report.more, lag=lag)


class DetectionJobDownError(PlatformError):
    """The Flink job had stopped; the step restarted it (the round reports it as a failure)."""


@dataclass
class StreamDetectionStep:
    """The Flink job: export new events, commit its alerts, watch it; restart it when it stopped.

    Restarting resumes from the newest retained checkpoint, so committed alerts are not repeated
    (the committer also recognises known alert ids) and open correlation windows survive.
    """

    platform: Platform
    interval: float = 0.2
    lag_bound: int | None = 200_000
    name: str = "detection"

    def run(self, now: datetime) -> StepReport:
        from soc_api.service import stream_pass

        runner = self.platform.stream
        assert runner is not None
        status = runner.status()
        if status.stopped:
            log.error(
                "detection_job_down", state=status.state, progress=status.progress, error=status.last_error
            )
            runner.restart(now=now)
            raise DetectionJobDownError(
                f"the Flink job was {status.state}"
                + (f" ({status.last_error})" if status.last_error else "")
                + "; restarted from its last retained checkpoint"
            )
        report = stream_pass(runner, self.platform.spool, now=now)
        return StepReport(work=report.read, more=False, lag=runner.status().lag)


@dataclass
class ClusterDetectionStep:
    """The Kafka detection job on a Flink cluster, watched and resubmitted when down (`ClusterJob`:
    its problem makes the round fail, so `/readyz` names it). Lag: the events its consumer group
    (`<group_prefix>flink`, committed on checkpoints) has not passed yet."""

    job: ClusterJob
    transport: Transport
    interval: float = 1.0
    lag_bound: int | None = 200_000
    name: str = "detection"

    def run(self, now: datetime) -> StepReport:
        from soc_api.stream.cluster_job import GROUP

        self.job.check(now=now)
        events = self.transport.range(EVENTS)
        committed = self.transport.consumer_offsets(EVENTS).get(GROUP, events.start)
        return StepReport(lag=max(events.end - committed, 0))


@dataclass
class CheckpointStep:
    """Sign a ledger checkpoint when the policy says one is due."""

    ledger: Ledger
    interval: float = 1.0
    lag_bound: int | None = None
    name: str = "checkpoint"

    def run(self, now: datetime) -> StepReport:
        signed = self.ledger.maybe_checkpoint(now=now)
        return StepReport(work=1 if signed is not None else 0)


@dataclass
class RetentionStep:
    """Store and spool retention, at most every `every` (the store's purge is ledgered)."""

    platform: Platform
    every: timedelta = timedelta(hours=1)
    interval: float = 60.0
    lag_bound: int | None = None
    name: str = "retention"
    _last: datetime | None = None

    def run(self, now: datetime) -> StepReport:
        if self._last is not None and now - self._last < self.every:
            return StepReport()
        purge, spool_report = self.platform.retention(now)
        log.info("retention", purged=purge.purged, spool_deleted=spool_report.deleted_records)
        self._last = now
        return StepReport(work=purge.purged + spool_report.deleted_records)


@dataclass
class TailStep:
    """The `[[collect.tail]]` file followers: new lines through their parsers into the spool."""

    tails: Sequence[Any]
    new_id: Callable[[], str]
    interval: float = 0.5
    lag_bound: int | None = None
    name: str = "tail"

    def run(self, now: datetime) -> StepReport:
        work = 0
        for tail in self.tails:
            tailed = tail.poll(now=now, new_id=self.new_id)
            work += tailed.accepted + tailed.rejected
            if tailed.truncations or tailed.rotations or tailed.lost:
                log.warning(
                    "tail_restarted", source=tail.source, rotations=tailed.rotations, lost=tailed.lost
                )
        return StepReport(work=work)


@dataclass
class CallStep:
    """A step made of one callable returning the work it did (security events, governance reload)."""

    name: str
    call: Callable[[datetime], int]
    interval: float = 1.0
    lag_bound: int | None = None

    def run(self, now: datetime) -> StepReport:
        return StepReport(work=self.call(now))
