"""The verdict on the cluster job (`JobWatch`, pure): not running, a restart with no checkpoint
since, no checkpoint for N intervals, the start-up grace; and a cluster that does not answer at
start. The supervision against the real cluster is `tests/soc_api/test_platform_kafka_cluster.py`
(resubmission, adoption) and `tests/soc_api/test_platform_topology.py` (cancel on stop)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc_api.stream.cluster_job import (
    STATE_FILE,
    ClusterJob,
    ClusterJobDownError,
    JobWatch,
    WatchPolicy,
    cluster_calls,
)
from soc_api.stream.kafka_cluster import JobFigures

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POLICY = WatchPolicy(checkpoint_interval=timedelta(seconds=5), intervals=10, startup=timedelta(seconds=120))


def _look(watch: JobWatch, figures: JobFigures, at: float) -> tuple[JobWatch, str | None]:
    now = T0 + timedelta(seconds=at)
    seen = watch.observe(figures, now)
    return seen, seen.problem(figures, now, POLICY)


def test_a_job_that_is_not_running_is_a_problem() -> None:
    watch = JobWatch("j1", since=T0)
    for state in ("FAILED", "RESTARTING", "CANCELED", "MISSING", "INITIALIZING"):
        _, problem = _look(watch, JobFigures(state), 1)
        assert problem == f"job j1 is {state}"


def test_checkpoints_completing_keep_the_job_healthy_and_a_stall_is_named() -> None:
    watch, problem = _look(JobWatch("j1", since=T0), JobFigures("RUNNING", 0, 0), 1)
    assert problem is None  # within the start-up grace
    watch, problem = _look(watch, JobFigures("RUNNING", 0, 1, "file:/c/chk-1"), 10)
    assert problem is None
    assert watch.latest_checkpoint == "file:/c/chk-1"
    watch, problem = _look(watch, JobFigures("RUNNING", 0, 1, "file:/c/chk-1"), 10 + 50)
    assert problem is None  # exactly 10 intervals: still within
    watch, problem = _look(watch, JobFigures("RUNNING", 0, 1, "file:/c/chk-1"), 10 + 51)
    assert problem == "job j1 has completed no checkpoint for 51 s (bound 50 s)"
    watch, problem = _look(watch, JobFigures("RUNNING", 0, 2, "file:/c/chk-2"), 70)
    assert problem is None
    assert watch.latest_checkpoint == "file:/c/chk-2"


def test_a_restart_is_a_problem_until_a_checkpoint_completes_after_it() -> None:
    watch, _ = _look(JobWatch("j1", since=T0), JobFigures("RUNNING", 3, 7, "file:/c/chk-7"), 1)
    watch, problem = _look(watch, JobFigures("RUNNING", 3, 8, "file:/c/chk-8"), 2)
    assert problem is None  # restarts before we looked first are not counted against it
    watch, problem = _look(watch, JobFigures("RUNNING", 4, 8), 3)
    assert problem is not None
    assert "restarted (4 restarts" in problem
    assert watch.latest_checkpoint == "file:/c/chk-8"  # an empty look keeps the last one known
    watch, problem = _look(watch, JobFigures("RUNNING", 5, 8), 9)
    assert problem is not None
    assert "no checkpoint since" in problem
    watch, problem = _look(watch, JobFigures("RUNNING", 5, 9, "file:/c/chk-9"), 12)
    assert problem is None


def test_a_job_that_never_completes_a_checkpoint_is_a_problem_after_the_start_up_grace() -> None:
    watch, problem = _look(JobWatch("j1", since=T0), JobFigures("RUNNING"), 120)
    assert problem is None
    watch, problem = _look(watch, JobFigures("RUNNING"), 121)
    assert problem == "job j1 has completed no checkpoint in 121 s"


def test_a_missing_job_keeps_what_was_known_of_it() -> None:
    watch, _ = _look(JobWatch("j1", since=T0), JobFigures("RUNNING", 1, 4, "file:/c/chk-4"), 1)
    after, problem = _look(watch, JobFigures("MISSING"), 2)
    assert after == watch
    assert problem == "job j1 is MISSING"


def test_the_stall_bound_has_a_floor() -> None:
    assert WatchPolicy(checkpoint_interval=timedelta(milliseconds=500)).stall == timedelta(seconds=30)
    assert WatchPolicy(checkpoint_interval=timedelta(seconds=10)).stall == timedelta(seconds=100)


def test_a_cluster_that_does_not_answer_at_start_is_reported_and_tried_again(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    known = {"job_id": "0" * 32, "latest_checkpoint": "file:/c/chk-3"}
    (tmp_path / STATE_FILE).write_text(json.dumps(known), encoding="utf-8")
    job = ClusterJob(cluster_calls(lambda: "{}", f"127.0.0.1:{port}", {}), tmp_path, POLICY)
    assert job.start(now=T0) is None  # the platform starts; the detection step reports it
    with pytest.raises(ClusterJobDownError, match=r"submitting the detection job .*Connection refused"):
        job.check(now=T0)
    deadline = time.monotonic() + 30
    while job.submitting and time.monotonic() < deadline:  # the retry, in the background
        time.sleep(0.05)
    with pytest.raises(ClusterJobDownError, match=r"resubmitting the detection job failed: .*refused"):
        job.check(now=T0)
    job.stop()  # nothing submitted by this process: nothing to cancel
    assert job.submissions == 0
    assert json.loads((tmp_path / STATE_FILE).read_text(encoding="utf-8")) == known
