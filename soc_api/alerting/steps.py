"""The alerting steps the platform supervises (`soc_api.supervisor.Step`), each reporting its lag:

- `alert_store` (intake): records behind on the `alerts` topic;
- `notifier` (delivery): seconds the oldest pending notification has waited;
- `sla`: alerts whose timer ran out and are not yet escalated;
- `bulletins`: scheduled bulletins due and not yet made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from audit.entry import EntryDraft
from datasoc.logging import get_logger
from datasoc.state import StateStore
from soc_api.alerting import store, transitions
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.delivery import Deliverer
from soc_api.alerting.intake import AlertIntake, Recorder
from soc_api.alerting.records import AlertRecord, ts
from soc_api.alerting.sla import evaluate
from soc_api.supervisor import StepReport

log = get_logger("alerting")


@dataclass
class IntakeStep:
    """Spool `alerts` → the alert store (see `soc_api.alerting.intake`)."""

    intake: AlertIntake
    interval: float = 0.2
    lag_bound: int | None = 200_000
    max_batches: int = 20
    name: str = "alert_store"

    def run(self, now: datetime) -> StepReport:
        report = self.intake.run(now=now, max_batches=self.max_batches)
        return StepReport(work=report.read, more=report.more, lag=report.lag)


@dataclass
class DeliveryStep:
    """The outbox → receivers (see `soc_api.alerting.delivery`); lag in seconds."""

    deliverer: Deliverer
    interval: float = 0.2
    #: Seconds a notification may wait before `/readyz` says the notifier is behind.
    lag_bound: int | None = 300
    name: str = "notifier"

    def run(self, now: datetime) -> StepReport:
        report = self.deliverer.run(now)
        return StepReport(
            work=report.started + report.delivered + report.dead, more=False, lag=report.lag_seconds
        )


@dataclass
class SlaStep:
    """SLA timers: escalate every alert whose timer ran out (bounded per round)."""

    state: StateStore
    config: AlertingConfig
    recorder: Recorder
    interval: float = 5.0
    lag_bound: int | None = 1000
    batch: int = 200
    name: str = "sla"
    on_change: Callable[[], None] | None = None

    def run(self, now: datetime) -> StepReport:
        due = overdue(self.state, now, self.batch)
        work = 0
        if due:
            drafts: list[EntryDraft] = []
            with self.state.write() as conn:
                routes = [*self.config.routes, *store.stored_routes(conn)]
                for alert in due:
                    fresh = store.get(conn, alert.id)  # a person may have moved it meanwhile
                    if fresh is None or fresh.suppressed_by is not None:
                        continue
                    step = evaluate(
                        self.config.sla,
                        level=fresh.warning_level,
                        stage=fresh.sla_stage,
                        due=fresh.sla_due_at,
                        step=fresh.sla_step,
                        assignee=fresh.assignee,
                        now=now,
                    )
                    if step is not None:
                        drafts.append(transitions.escalate(conn, self.config, routes, fresh, step, now=now))
                self.recorder.record_many(drafts)
            work = len(drafts)
            if work:
                log.info("alerts_escalated", count=work)
                if self.on_change is not None:
                    self.on_change()
        remaining = len(overdue(self.state, now, self.batch)) if len(due) == self.batch else 0
        return StepReport(work=work, more=remaining > 0, lag=remaining)


def overdue(state: StateStore, now: datetime, limit: int) -> Sequence[AlertRecord]:
    """Open, unsuppressed alerts whose SLA timer ended before `now`, oldest due first."""
    with state.read() as conn:
        rows = conn.execute(
            "SELECT * FROM alerts WHERE sla_stage != 'done' AND suppressed_by IS NULL AND sla_due_at <= ? "
            "ORDER BY sla_due_at LIMIT ?",
            (ts(now), limit),
        ).fetchall()
    return [AlertRecord.from_row(r) for r in rows]
