"""Waiting on a running platform's supervised steps (demo, `run --once`, tests): until the consumers
have caught up with the spool, until the alert store and the outbox are settled, or until detection
has closed its windows at the end of input. `soc_api.daemon.Daemon` calls these with its parts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datasoc.transport import ALERTS, EVENTS, Transport
from soc_api.detector import DetectReport
from soc_api.errors import PlatformError
from soc_api.supervisor import Supervisor

if TYPE_CHECKING:
    from datasoc.state import StateStore
    from soc_api.alerting.runtime import AlertingSteps
    from soc_api.platform import Platform

#: How long `wait_caught_up` and `drain` wait by default (the job's start-up alone is 10 to 15 s).
JOB_WAIT = timedelta(minutes=5)
_POLL_SECONDS = 0.1


class CatchUpTimeoutError(PlatformError):
    """The steps did not reach the awaited position in time (a step failing, or too slow)."""


def wait_caught_up(
    supervisor: Supervisor,
    steps: Collection[str],
    spool: Transport,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    *,
    timeout: timedelta,
) -> None:
    """Wait until every consumer has processed every event now in the spool: indexed, traced,
    and evaluated by detection with its alerts committed. Raises `CatchUpTimeoutError`."""
    end = spool.range(EVENTS).end
    started = clock()
    deadline = started + timeout
    while True:
        behind = _behind(supervisor, started)
        if not behind:
            return
        if clock() >= deadline:
            problems = "; ".join(supervisor.readiness().problems) or "no step reported a problem"
            raise CatchUpTimeoutError(
                f"not caught up with offset {end} within {timeout.total_seconds():.0f} s: "
                f"{', '.join(behind)} behind ({problems})"
            )
        for name in behind:
            if name in steps:
                supervisor.wake(name)
        sleep(_POLL_SECONDS)


def _behind(supervisor: Supervisor, since: datetime) -> list[str]:
    """Consumers without a round since `since` that left them at lag 0 (so past `end`)."""
    behind = []
    for status in supervisor.statuses():
        if status.name not in ("indexer", "trail", "detection"):
            continue
        fresh = status.last_success is not None and status.last_success >= since
        if not fresh or status.lag is None or status.lag > 0:
            behind.append(status.name)
    return behind


def settle_alerts(
    supervisor: Supervisor,
    alerting: AlertingSteps,
    spool: Transport,
    state: StateStore,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    *,
    timeout: timedelta,
) -> bool:
    """Wait until the alert store has taken in every committed alert and the outbox has nothing
    pending; False when `timeout` passed first (a receiver down: retries go on)."""
    end = spool.range(ALERTS).end
    deadline = clock() + timeout
    while clock() < deadline:
        supervisor.wake("alert_store")
        supervisor.wake("notifier")
        taken = alerting.intake.committed >= end
        with state.read() as conn:
            pending = conn.execute("SELECT count(*) FROM notifications WHERE status = 'pending'").fetchone()[
                0
            ]
        if taken and not pending:
            return True
        sleep(_POLL_SECONDS)
    return False


def drain(
    platform: Platform,
    detect_lock: threading.Lock,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    *,
    timeout: timedelta,
) -> DetectReport:
    """End of input: close every open correlation window and wait until the alerts that raised are
    committed (each engine call under `detect_lock`, between two rounds of the detection step)."""
    from soc_api.detector import encode_alert
    from soc_api.service import stream_pass

    if platform.stream is None:
        assert platform.detector is not None
        with detect_lock:
            closing = platform.detector.flush()
            if closing:
                platform.spool.append("alerts", [encode_alert(a) for a in closing], now=clock())
        levels: dict[str, int] = {}
        for alert in closing:
            levels[alert.warning_level] = levels.get(alert.warning_level, 0) + 1
        return DetectReport(read=0, alerts=len(closing), by_warning_level=levels, committed_offset=0)
    with detect_lock:
        platform.stream.flush()
    deadline = clock() + timeout
    while True:
        with detect_lock:
            report = stream_pass(platform.stream, platform.spool, now=clock())
            if platform.stream.flushed:
                return report
        if clock() >= deadline:
            raise CatchUpTimeoutError(
                f"the detection job did not close its windows within {timeout.total_seconds():.0f} s"
            )
        sleep(_POLL_SECONDS)
