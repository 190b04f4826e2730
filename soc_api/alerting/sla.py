"""SLA timers per warning level and escalation (pure).

Two timers: *respond* (from the alert's creation until someone takes it in hand: 处置) and
*resolve* (from creation until 闭环; after a reopen, from the reopening). When the running timer
runs out, the alert is escalated to the next responder of its level's chain (the last one keeps it
and is reminded each further period) and the timer starts again for them. `evaluate` says what is
due at `now`; the SLA step applies it, ledgers it and routes an `escalation` notification.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Stage = Literal["respond", "resolve", "done"]


@dataclass(frozen=True, slots=True)
class LevelSla:
    """Timers and responders of one warning level."""

    respond: timedelta
    resolve: timedelta
    escalation: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlaPolicy:
    """`LevelSla` per warning level."""

    levels: Mapping[str, LevelSla]

    def of(self, level: str) -> LevelSla:
        """The SLA of `level`."""
        return self.levels[level]

    def start(self, level: str, raised_at: datetime) -> tuple[Stage, datetime, str | None]:
        """A new alert: (stage, due, first responder or None)."""
        sla = self.of(level)
        return "respond", raised_at + sla.respond, sla.escalation[0] if sla.escalation else None

    def on_status(
        self, level: str, status: str, raised_at: datetime, now: datetime, *, reopened: bool = False
    ) -> tuple[Stage, datetime | None]:
        """The timer after a transition to `status` at `now` (resolve counts from the creation, or
        from `now` when the alert was reopened; an overdue timer escalates on the next round)."""
        sla = self.of(level)
        if status == "closed":
            return "done", None
        if status == "in_progress":
            return "resolve", (now if reopened else raised_at) + sla.resolve
        return "respond", raised_at + sla.respond


@dataclass(frozen=True, slots=True)
class Escalation:
    """What a run-out timer does: hand the alert on (or remind), and when the timer runs again."""

    stage: Stage
    step: int
    assignee: str | None
    previous: str | None
    due: datetime
    overdue: timedelta


def evaluate(
    policy: SlaPolicy,
    *,
    level: str,
    stage: str,
    due: datetime | None,
    step: int,
    assignee: str | None,
    now: datetime,
) -> Escalation | None:
    """The escalation due at `now` for an alert in `stage` whose timer ends at `due`, or None."""
    if stage == "done" or due is None or now < due:
        return None
    sla = policy.of(level)
    chain = sla.escalation
    next_step = step + 1
    if next_step < len(chain):
        new_assignee: str | None = chain[next_step]
    else:
        next_step = max(step, len(chain) - 1) if chain else step + 1
        new_assignee = chain[-1] if chain else assignee
    period = sla.respond if stage == "respond" else sla.resolve
    return Escalation(
        stage="respond" if stage == "respond" else "resolve",
        step=next_step,
        assignee=new_assignee,
        previous=assignee,
        due=now + period,
        overdue=now - due,
    )
