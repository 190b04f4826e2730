"""Supervised steps: pure status transitions, and threads that fail, back off and recover alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from audit.errors import ProofError
from crypto.errors import CryptoError
from soc_api.supervisor import BackoffPolicy, StepReport, StepStatus, Supervisor, readiness

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_backoff_doubles_up_to_its_maximum() -> None:
    policy = BackoffPolicy(initial=timedelta(seconds=1), factor=2, maximum=timedelta(seconds=10))
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    with pytest.raises(ValueError, match="initial > 0"):
        BackoffPolicy(initial=timedelta(0))


def test_a_failure_is_recorded_with_its_traceback_and_cleared_by_the_next_success() -> None:
    policy = BackoffPolicy()
    status = StepStatus(name="indexer", lag_bound=100)
    try:
        raise ProofError("entries.log line 7 does not parse")
    except ProofError as exc:
        failed = status.failed(exc, NOW, policy).failed(exc, NOW + timedelta(seconds=1), policy)
    assert (failed.state, failed.failures) == ("failing", 2)
    assert failed.next_attempt == NOW + timedelta(seconds=3)  # 1 s after the second failure, doubled
    assert failed.last_error is not None
    assert failed.last_error.type == "ProofError"
    assert "test_supervisor.py" in failed.last_error.trace
    problem = failed.problem()
    assert problem is not None
    assert "indexer: failing (2×)" in problem
    assert "entries.log line 7" in problem
    recovered = failed.succeeded(StepReport(work=5, lag=3), NOW + timedelta(seconds=5))
    assert (recovered.state, recovered.failures, recovered.work, recovered.lag) == ("running", 0, 5, 3)
    assert recovered.problem() is None
    assert recovered.last_error is not None  # kept for the record


def test_readiness_names_every_step_that_is_failing_or_too_far_behind() -> None:
    ok = StepStatus(name="trail", lag_bound=10).succeeded(StepReport(lag=10), NOW)
    behind = StepStatus(name="indexer", lag_bound=10).succeeded(StepReport(lag=11), NOW)
    unbounded = StepStatus(name="retention").succeeded(StepReport(lag=10**9), NOW)
    state = readiness([ok, behind, unbounded])
    assert not state.ready
    assert state.problems == ("indexer: 11 behind (bound 10)",)
    assert readiness([ok, unbounded]).ready


@dataclass
class ScriptedStep:
    """A step that runs a script of outcomes (an exception to raise, or work done) and then idles."""

    name: str
    script: list[BaseException | int]
    interval: float = 0.01
    lag_bound: int | None = None
    runs: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def run(self, now: datetime) -> StepReport:
        self.runs += 1
        if not self.script:
            self.done.set()
            return StepReport()
        outcome = self.script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return StepReport(work=outcome)


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_failing_step_backs_off_and_recovers_while_the_others_keep_working() -> None:
    # Errors of every floor and none (an AuditError-like, a CryptoError, a plain RuntimeError as a
    # py4j error would be) are caught alike: no thread dies.
    failing = ScriptedStep("trail", [ProofError("torn"), CryptoError("sm4"), RuntimeError("py4j"), 7])
    steady = ScriptedStep("indexer", [1] * 50)
    fast = BackoffPolicy(initial=timedelta(milliseconds=10), maximum=timedelta(milliseconds=40))
    supervisor = Supervisor([failing, steady], clock=lambda: datetime.now(UTC), policy=fast)
    supervisor.start()
    try:
        _wait(lambda: failing.done.is_set() and steady.done.is_set())
    finally:
        assert supervisor.stop(timeout=5) == []
    statuses = {s.name: s for s in supervisor.statuses()}
    assert statuses["indexer"].work == 50
    trail = statuses["trail"]
    assert (trail.work, trail.failures, trail.state) == (7, 0, "stopped")
    assert trail.last_error is not None
    assert trail.last_error.type == "RuntimeError"


def test_a_step_that_keeps_failing_makes_the_platform_not_ready() -> None:
    broken = ScriptedStep("detection", [RuntimeError(f"job down #{i}") for i in range(1000)])
    supervisor = Supervisor([broken], clock=lambda: datetime.now(UTC))
    supervisor.start()
    try:
        _wait(lambda: supervisor.statuses()[0].failures >= 1)
        state = supervisor.readiness()
        assert not state.ready
        assert "detection: failing" in state.problems[0]
        assert "job down #0" in state.problems[0]
        time.sleep(0.3)
        # The default back-off waits a second after the first failure: no retry storm meanwhile.
        assert broken.runs == 1
    finally:
        supervisor.stop(timeout=5)


def test_stop_is_bounded_and_names_a_step_stuck_in_its_round() -> None:
    release = threading.Event()

    @dataclass
    class Stuck:
        name: str = "indexer"
        interval: float = 0.01
        lag_bound: int | None = None

        def run(self, now: datetime) -> StepReport:
            release.wait(30)
            return StepReport()

    supervisor = Supervisor([Stuck()], clock=lambda: datetime.now(UTC))
    supervisor.start()
    time.sleep(0.05)
    try:
        # Returns (rather than waiting for the round) and says which step is still inside one.
        assert supervisor.stop(timeout=0.3) == ["indexer"]
    finally:
        release.set()


def test_step_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Supervisor([ScriptedStep("a", []), ScriptedStep("a", [])], clock=lambda: NOW)
