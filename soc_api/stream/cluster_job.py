"""`datasoc run` with the Kafka detection job on a standalone Flink cluster: submit it (or adopt the
one an earlier run submitted), watch it through the cluster's REST API, resubmit it from its newest
retained checkpoint when it went down, and cancel it on shutdown only when this process submitted it.

The pure part is `JobWatch`: what the platform remembers of the job between looks, and the verdict
on one look (`problem`): not RUNNING, restarted with no checkpoint completed since (a restart loop),
or no checkpoint completed for `WatchPolicy.stall` (N checkpoint intervals, with a floor). The
detection step raises the verdict, so `/readyz` names it.

What the platform keeps, in `data_dir/stream/cluster-job.json`: the job id and the newest completed
checkpoint it saw (its path as the cluster sees it). A platform restarted after a crash adopts a job
still running; a job the cluster no longer knows (the JobManager restarted without HA) or that
ended (FAILED once its restart strategy gave up, CANCELED by someone else, FINISHED) is submitted
again from that checkpoint: its Kafka offsets, keyed state and open transactions resume there, so
no event is skipped and no alert is written twice (the sink is exactly-once).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from datasoc.logging import get_logger
from datasoc.settings import Settings
from datasoc.transport.offsets import write_durably
from soc_api.errors import PlatformError
from soc_api.stream.kafka_cluster import ClusterJobError, JobFigures

log = get_logger("cluster_job")
STATE_FILE = "cluster-job.json"
#: The job's consumer group is `<group_prefix>flink` (its offsets committed on checkpoints).
GROUP = "flink"
#: States after which the job does nothing until it is submitted again (`MISSING`: unknown to the
#: cluster).
DOWN = frozenset({"FAILED", "CANCELED", "FINISHED", "MISSING"})


#: How long `stop` waits for a cancelled job to end.
CANCEL_WAIT_S = 30.0


class ClusterJobDownError(PlatformError):
    """The cluster job is not healthy (the message says how); `/readyz` reports it."""


@dataclass(frozen=True)
class WatchPolicy:
    """When a RUNNING job still counts as stuck: no checkpoint completed for `intervals` checkpoint
    intervals (at least `floor`: a loaded cluster's checkpoints take seconds), or for `startup` after
    it was submitted or adopted (its Python workers start first)."""

    checkpoint_interval: timedelta
    intervals: int = 10
    floor: timedelta = timedelta(seconds=30)
    startup: timedelta = timedelta(seconds=180)

    def __post_init__(self) -> None:
        if self.intervals < 1 or self.checkpoint_interval <= timedelta(0):
            raise ValueError("watch policy: intervals >= 1 and a positive checkpoint interval")

    @property
    def stall(self) -> timedelta:
        """How long without a completed checkpoint a running job may go."""
        return max(self.checkpoint_interval * self.intervals, self.floor)


@dataclass(frozen=True)
class JobWatch:
    """What the platform knows of one submitted job between looks; `observe` returns the next."""

    job_id: str
    #: When it was submitted or adopted (the start-up grace counts from here).
    since: datetime
    #: Restarts and completed checkpoints at the last look (None before the first).
    restarts: int | None = None
    completed: int | None = None
    restarted_at: datetime | None = None
    progressed_at: datetime | None = None
    latest_checkpoint: str | None = None

    def observe(self, seen: JobFigures, now: datetime) -> JobWatch:
        """Fold one look in: a rise of the restart count or of completed checkpoints is timed."""
        if seen.state == "MISSING":
            return self
        rose = self.restarts is not None and seen.restarts > self.restarts
        progressed = self.completed is not None and seen.completed_checkpoints > self.completed
        return replace(
            self,
            restarts=seen.restarts,
            completed=seen.completed_checkpoints,
            restarted_at=now if rose else self.restarted_at,
            progressed_at=now if progressed else self.progressed_at,
            latest_checkpoint=seen.latest_checkpoint or self.latest_checkpoint,
        )

    def problem(self, seen: JobFigures, now: datetime, policy: WatchPolicy) -> str | None:
        """Why the job is not healthy after this look (call on the observed watch), or None."""
        if seen.state != "RUNNING":
            return f"job {self.job_id} is {seen.state}"
        if self.restarted_at is not None and (
            self.progressed_at is None or self.progressed_at < self.restarted_at
        ):
            return (
                f"job {self.job_id} restarted ({self.restarts} restarts, the last at "
                f"{self.restarted_at.isoformat()}) and has completed no checkpoint since"
            )
        if self.progressed_at is None:
            if now - self.since > policy.startup:
                return f"job {self.job_id} has completed no checkpoint in {_seconds(now - self.since)}"
            return None
        if now - self.progressed_at > policy.stall:
            return (
                f"job {self.job_id} has completed no checkpoint for {_seconds(now - self.progressed_at)} "
                f"(bound {_seconds(policy.stall)})"
            )
        return None


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():.0f} s"


@dataclass(frozen=True)
class ClusterCalls:
    """The cluster's operations (`soc_api.stream.kafka_cluster`), passed in so the supervision is
    one piece whatever runs the job."""

    submit: Callable[[str | None], str]
    figures: Callable[[str], JobFigures]
    cancel: Callable[[str], None]


class ClusterJob:
    """The platform's side of the cluster job (see module docstring). `check` is called by the
    detection step; a resubmission runs in a thread of its own (`flink run` takes 20 s and more),
    so a round stays short and stopping stays bounded."""

    def __init__(self, calls: ClusterCalls, state_dir: Path, policy: WatchPolicy) -> None:
        self._calls = calls
        self._file = state_dir / STATE_FILE
        state_dir.mkdir(parents=True, exist_ok=True)
        self.policy = policy
        self.watch: JobWatch | None = None
        #: Whether this process submitted the running job (only then does `stop` cancel it).
        self.submitted_here = False
        self.submissions = 0
        self._lock = threading.Lock()
        self._submitting: threading.Thread | None = None
        self._submit_error: str | None = None

    # -- persisted state ----------------------------------------------------------------------------

    def _saved(self) -> tuple[str | None, str | None]:
        if not self._file.exists():
            return None, None
        found = json.loads(self._file.read_text(encoding="utf-8"))
        return found.get("job_id"), found.get("latest_checkpoint")

    def _save(self) -> None:
        watch = self.watch
        record = {
            "job_id": watch.job_id if watch else None,
            "latest_checkpoint": watch.latest_checkpoint if watch else self._saved()[1],
        }
        write_durably(self._file, json.dumps(record).encode(), os.fsync)

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self, *, now: datetime) -> str | None:
        """Adopt the job an earlier run submitted if the cluster still runs it; otherwise submit it
        (from the newest checkpoint known). Returns the job id; None when the cluster did not
        answer or refused the job (logged): the detection step fails, naming it, and tries again,
        while the rest of the platform runs."""
        try:
            return self._begin(now)
        except ClusterJobError as exc:
            self._submit_error = str(exc)[-2000:]
            log.error("cluster_job_not_started", error=self._submit_error)
            return None

    def _begin(self, now: datetime) -> str:
        job_id, checkpoint = self._saved()
        if job_id is not None:
            seen = self._calls.figures(job_id)
            if seen.state not in DOWN:
                self.watch = JobWatch(job_id, since=now, latest_checkpoint=checkpoint).observe(seen, now)
                log.info("cluster_job_adopted", job_id=job_id, state=seen.state)
                return job_id
            checkpoint = seen.latest_checkpoint or checkpoint
        self._submit(checkpoint, now)
        assert self.watch is not None
        return self.watch.job_id

    def _submit(self, checkpoint: str | None, now: datetime) -> None:
        job_id = self._calls.submit(checkpoint)
        with self._lock:
            self.watch = JobWatch(job_id, since=now, latest_checkpoint=checkpoint)
            self.submitted_here = True
            self.submissions += 1
            self._save()
        log.info("cluster_job_submitted", job_id=job_id, restored_from=checkpoint)

    def check(self, *, now: datetime) -> JobFigures:
        """One look at the job: fold it into the watch, persist a newer checkpoint, resubmit a job
        that went down. Raises `ClusterJobDownError` with the problem when it is not healthy."""
        if self._submitting is not None:
            if self._submitting.is_alive():
                raise ClusterJobDownError("resubmitting the detection job to the cluster")
            self._submitting = None
            if self._submit_error is not None:
                error, self._submit_error = self._submit_error, None
                raise ClusterJobDownError(f"resubmitting the detection job failed: {error}")
        watch = self.watch
        if watch is None:  # not started: the cluster did not answer at start, or refused the job
            last, self._submit_error = self._submit_error, None
            self._in_background(lambda: self._begin(now))
            raise ClusterJobDownError(f"submitting the detection job to the cluster (last: {last})")
        try:
            seen = self._calls.figures(watch.job_id)
        except ClusterJobError as exc:
            raise ClusterJobDownError(f"the cluster does not answer: {exc}") from None
        observed = watch.observe(seen, now)
        with self._lock:
            self.watch = observed
            if observed.latest_checkpoint != watch.latest_checkpoint:
                self._save()
        if seen.state in DOWN:
            self._resubmit(observed, seen, now)
        problem = observed.problem(seen, now, self.policy)
        if problem is not None:
            raise ClusterJobDownError(problem)
        return seen

    def _resubmit(self, watch: JobWatch, seen: JobFigures, now: datetime) -> None:
        log.error(
            "cluster_job_down",
            job_id=watch.job_id,
            state=seen.state,
            restore_from=watch.latest_checkpoint,
        )

        self._in_background(lambda: self._submit(watch.latest_checkpoint, now))
        source = watch.latest_checkpoint or "no checkpoint"
        raise ClusterJobDownError(f"job {watch.job_id} was {seen.state}; resubmitting from {source}")

    @property
    def submitting(self) -> bool:
        """Whether a submission runs in the background now."""
        return self._submitting is not None and self._submitting.is_alive()

    def _in_background(self, submit: Callable[[], object]) -> None:
        """Run `submit` in a thread; its failure is reported by the next `check`."""

        def run() -> None:
            try:
                submit()
            except Exception as exc:  # reported by the next check, retried after the step's back-off
                self._submit_error = str(exc)[-2000:]
                log.error("cluster_job_submit_failed", error=self._submit_error)

        self._submitting = threading.Thread(target=run, name="cluster-job-submit", daemon=True)
        self._submitting.start()

    def stop(self) -> None:
        """Cancel the job if this process submitted it (its checkpoints are retained) and wait, at
        most `CANCEL_WAIT_S`, until it ended; a job adopted from an earlier run keeps running for
        the next one."""
        if self._submitting is not None:
            self._submitting.join(timeout=60)
        watch = self.watch
        if watch is None or not self.submitted_here:
            return
        self._calls.cancel(watch.job_id)
        # Cancelling is asynchronous (measured: still RUNNING just after the request); a platform
        # started again at once must find it ended, not adopt a job on its way out.
        deadline = time.monotonic() + CANCEL_WAIT_S
        state = "CANCELLING"
        while state not in DOWN and time.monotonic() < deadline:
            time.sleep(0.2)
            state = self._calls.figures(watch.job_id).state
        log.info("cluster_job_cancelled", job_id=watch.job_id, state=state)


def cluster_calls(
    config_json: Callable[[], str], jobmanager: str, environment: Mapping[str, str]
) -> ClusterCalls:
    """`ClusterCalls` on the REST API and `flink run` of `soc_api.stream.kafka_cluster`."""
    from soc_api.stream import kafka_cluster

    return ClusterCalls(
        submit=lambda restore_from: kafka_cluster.submit_kafka_job(
            config_json(), jobmanager, environment, restore_from=restore_from
        ),
        figures=lambda job_id: kafka_cluster.job_figures(jobmanager, job_id),
        cancel=lambda job_id: kafka_cluster.cancel_job(jobmanager, job_id),
    )


def for_settings(settings: Settings, rule_roots: Sequence[Path], where: Path) -> ClusterJob:
    """The Kafka job's supervisor from `[transport]` and `[detection]`, its state under `where`.
    Each submission sends the rule files under `rule_roots` as they are then (a resubmission picks
    up changed rules); the `flink` client and its `FLINK_HOME`, `FLINK_LIB_DIR` (with the Kafka
    connector) and `JAVA_HOME` come from this process's environment. The job reaches the brokers
    in PLAINTEXT: SASL/TLS settings of `[transport]` are not passed on yet."""
    from detection.stream.kafka_job import KafkaJobConfig
    from detection.stream.rules import RuleChange
    from soc_api.stream.rules import rule_texts

    d, t = settings.detection, settings.transport
    assert d.jobmanager is not None
    rules_file = where / "cluster-rules.json"
    config = KafkaJobConfig(
        bootstrap=t.bootstrap,
        rules_file=str(rules_file),
        topic_prefix=t.topic_prefix,
        group=f"{t.group_prefix}{GROUP}",
        transactional_id_prefix=f"{t.topic_prefix}detection",
        parallelism=d.parallelism,
        checkpoint_interval_ms=d.checkpoint_interval_ms,
        allowed_lateness_ms=round(d.allowed_lateness_seconds * 1000),
        pipeline=d.pipeline,
        execution_mode=d.execution_mode,
    )

    def config_json() -> str:
        where.mkdir(parents=True, exist_ok=True)
        rules_file.write_text(RuleChange(version=1, put=rule_texts(rule_roots)).to_json(), encoding="utf-8")
        return config.to_json()

    calls = cluster_calls(config_json, d.jobmanager, dict(os.environ))
    policy = WatchPolicy(checkpoint_interval=timedelta(milliseconds=d.checkpoint_interval_ms))
    return ClusterJob(calls, where, policy)
