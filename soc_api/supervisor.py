"""Supervised consumers: each platform step runs on its own, with its own health and back-off.

A *step* is one consumer of the platform (indexer, trail, detection, checkpointer, retention, ...):
`run(now)` does one bounded round of work and reports how much it did, whether more is pending and
how far behind it is. The supervisor gives every step a thread of its own (Erlang/OTP's
one-for-one: a failing step is retried after a back-off, never stopping another), records each
step's status (`StepStatus`, the pure part: transitions are functions of the old status, the
outcome and `now`) and answers readiness from them, as Kafka Connect's task status does.

A process that keeps acknowledging work no step will do is the worst failure a pipeline has, so
`readiness` is false while any step is failing or further behind than its bound, and says which
and why; `/readyz` serves it.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from datasoc.logging import get_logger

log = get_logger("supervisor")

StepState = Literal["starting", "running", "failing", "stopped"]
#: Characters of a failure's traceback kept in its status (the log has the whole of it).
TRACE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class StepReport:
    """What one round of a step did: units of work, whether more is pending now, its lag."""

    work: int = 0
    more: bool = False
    #: Records (or seconds, per the step's `lag_unit`) the step is behind; None when not measured.
    lag: int | None = None


class Step(Protocol):
    """One supervised consumer. `run` must return within about a second (bounded rounds), so that
    stopping the platform is bounded too."""

    @property
    def name(self) -> str: ...

    @property
    def interval(self) -> float:
        """Seconds to wait after a round that found nothing more to do."""
        ...

    @property
    def lag_bound(self) -> int | None:
        """Largest lag at which the step still counts as ready; None: lag does not count."""
        ...

    def run(self, now: datetime) -> StepReport: ...


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential back-off after consecutive failures: initial, ×factor, capped at maximum."""

    initial: timedelta = timedelta(seconds=1)
    factor: float = 2.0
    maximum: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.initial <= timedelta(0) or self.factor < 1 or self.maximum < self.initial:
            raise ValueError("back-off: initial > 0, factor >= 1 and maximum >= initial")

    def delay(self, failures: int) -> timedelta:
        """Wait after the `failures`-th consecutive failure (1-based)."""
        seconds = self.initial.total_seconds() * self.factor ** max(failures - 1, 0)
        return min(timedelta(seconds=seconds), self.maximum)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as an operator reads it: its type, message and (trimmed) traceback."""

    type: str
    message: str
    trace: str
    at: datetime

    @classmethod
    def of(cls, exc: BaseException, at: datetime) -> ErrorInfo:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(type=type(exc).__name__, message=str(exc)[:1000], trace=trace[-TRACE_CHARS:], at=at)


@dataclass(frozen=True)
class StepStatus:
    """The health of one step, replaced (never mutated) after each round."""

    name: str
    state: StepState = "starting"
    runs: int = 0
    work: int = 0
    lag: int | None = None
    lag_bound: int | None = None
    last_success: datetime | None = None
    #: Consecutive failures; 0 once a round succeeds again.
    failures: int = 0
    last_error: ErrorInfo | None = None
    next_attempt: datetime | None = None

    def succeeded(self, report: StepReport, now: datetime) -> StepStatus:
        """The status after a round that returned `report` (the last error stays for the record)."""
        return replace(
            self,
            state="running",
            runs=self.runs + 1,
            work=self.work + report.work,
            lag=report.lag if report.lag is not None else self.lag,
            last_success=now,
            failures=0,
            next_attempt=None,
        )

    def failed(self, exc: BaseException, now: datetime, policy: BackoffPolicy) -> StepStatus:
        """The status after a round that raised `exc`: failing, retried after the back-off."""
        failures = self.failures + 1
        return replace(
            self,
            state="failing",
            runs=self.runs + 1,
            failures=failures,
            last_error=ErrorInfo.of(exc, now),
            next_attempt=now + policy.delay(failures),
        )

    def problem(self) -> str | None:
        """Why this step is not ready, or None when it is."""
        if self.state == "failing" and self.last_error is not None:
            return (
                f"{self.name}: failing ({self.failures}×) since {self.last_error.at.isoformat()}: "
                f"{self.last_error.type}: {self.last_error.message}"
            )
        if self.state == "stopped":
            return f"{self.name}: stopped"
        if self.lag_bound is not None and self.lag is not None and self.lag > self.lag_bound:
            return f"{self.name}: {self.lag} behind (bound {self.lag_bound})"
        return None

    def to_dict(self) -> dict[str, object]:
        """JSON form for `/readyz` and the console (the traceback included: it names no secret)."""
        error = self.last_error
        return {
            "name": self.name,
            "state": self.state,
            "runs": self.runs,
            "work": self.work,
            "lag": self.lag,
            "lag_bound": self.lag_bound,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "failures": self.failures,
            "next_attempt": self.next_attempt.isoformat() if self.next_attempt else None,
            "last_error": None
            if error is None
            else {
                "type": error.type,
                "message": error.message,
                "at": error.at.isoformat(),
                "trace": error.trace,
            },
        }


@dataclass(frozen=True)
class Readiness:
    """Whether every step is healthy, and the problems of those that are not."""

    ready: bool
    problems: tuple[str, ...]
    steps: tuple[StepStatus, ...]


def readiness(statuses: Sequence[StepStatus]) -> Readiness:
    """Ready when no step is failing, stopped or behind its lag bound."""
    problems = tuple(p for p in (s.problem() for s in statuses) if p is not None)
    return Readiness(ready=not problems, problems=problems, steps=tuple(statuses))


@dataclass
class _Worker:
    step: Step
    status: StepStatus
    thread: threading.Thread | None = None
    wake: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    """Runs each step in a thread of its own until `stop`; see the module docstring."""

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        clock: Callable[[], datetime],
        policy: BackoffPolicy | None = None,
    ) -> None:
        names = [step.name for step in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique: {names}")
        self._clock = clock
        self._policy = policy or BackoffPolicy()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = {
            step.name: _Worker(step, StepStatus(name=step.name, lag_bound=step.lag_bound)) for step in steps
        }

    def start(self) -> None:
        """Start one thread per step."""
        for worker in self._workers.values():
            worker.thread = threading.Thread(
                target=self._loop, args=(worker,), name=f"step-{worker.step.name}", daemon=True
            )
            worker.thread.start()

    def run_once(self, name: str) -> StepReport:
        """Run one round of step `name` here (tests, `--once`); its status is updated as in a thread.
        Exceptions propagate after being recorded."""
        worker = self._workers[name]
        return self._round(worker, self._clock())

    def wake(self, name: str) -> None:
        """Ask step `name` to run now instead of after its interval (new work arrived)."""
        self._workers[name].wake.set()

    def statuses(self) -> list[StepStatus]:
        """A snapshot of every step's status, in the order the steps were given."""
        with self._lock:
            return [worker.status for worker in self._workers.values()]

    def readiness(self) -> Readiness:
        """`readiness` over the current statuses."""
        return readiness(self.statuses())

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Stop every thread, waiting at most `timeout` seconds in all; returns the steps still
        running at the deadline (their current round is abandoned with the process)."""
        self._stop.set()
        for worker in self._workers.values():
            worker.wake.set()
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        late: list[str] = []
        try:
            for worker in self._workers.values():
                thread = worker.thread
                if thread is None:
                    continue
                while thread.is_alive() and not deadline.is_set():
                    thread.join(0.05)
                if thread.is_alive():
                    late.append(worker.step.name)
        finally:
            timer.cancel()
        with self._lock:
            for worker in self._workers.values():
                if worker.step.name not in late:
                    worker.status = replace(worker.status, state="stopped")
        if late:
            log.error("steps_not_stopped", steps=late, timeout_seconds=timeout)
        return late

    # -- the thread of one step ------------------------------------------------------------------

    def _round(self, worker: _Worker, now: datetime) -> StepReport:
        try:
            report = worker.step.run(now)
        except Exception as exc:
            with self._lock:
                worker.status = worker.status.failed(exc, now, self._policy)
                status = worker.status
            log.error(
                "step_failed",
                step=worker.step.name,
                failures=status.failures,
                error_type=type(exc).__name__,
                error=str(exc)[:1000],
                retry_at=status.next_attempt.isoformat() if status.next_attempt else None,
                exc_info=exc,
            )
            raise
        with self._lock:
            recovered = worker.status.failures > 0
            worker.status = worker.status.succeeded(report, now)
        if recovered:
            log.info("step_recovered", step=worker.step.name)
        return report

    def _loop(self, worker: _Worker) -> None:
        step = worker.step
        while not self._stop.is_set():
            now = self._clock()
            status = worker.status
            if status.next_attempt is not None and now < status.next_attempt:
                self._wait(worker, (status.next_attempt - now).total_seconds())
                continue
            try:
                report = self._round(worker, now)
            except Exception:  # noqa: S112 - _round recorded and logged it; retried after its back-off
                continue
            except BaseException as exc:  # never let a thread die silently (SystemExit, GeneratorExit...)
                with self._lock:
                    worker.status = worker.status.failed(exc, now, self._policy)
                log.critical("step_thread_ended", step=step.name, error_type=type(exc).__name__)
                raise
            if not report.more:
                self._wait(worker, step.interval)

    def _wait(self, worker: _Worker, seconds: float) -> None:
        if worker.wake.wait(max(seconds, 0.0)):
            worker.wake.clear()
