"""Alert intake: the detection engines' committed alerts (the spool's `alerts` topic) into the alert
store, exactly once, grouped, suppressed, levelled and routed.

Consumer `alert_store` on `alerts`. Per batch, in one state-store transaction: skip detection alerts
already taken in (idempotent by `alert.id`), find each one's open alert of the same rule and group
key within the window (else open a new one), apply suppressions, write members, observables and
history, and write the notifications its routes ask for into the outbox; the ledger entries of the
batch (`alert.new`, `alert.grouped`, `alert.suppressed`) are appended before the transaction
commits, so no change is without its entry (a crash between the two ledgers them again on the
replay: at least once, each entry naming its detection alert). Only then is the spool offset
committed. A payload that is not a valid alert goes to `deadletter` (stage `alerts`), counted.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from audit.entry import EntryDraft
from datasoc.alert import Alert
from datasoc.errors import EventValidationError
from datasoc.logging import get_logger
from datasoc.state import StateStore
from datasoc.transport import ALERTS, DEADLETTER, Consumer, OffsetOutOfRangeError, Record, Transport
from datasoc.transport.deadletter import dead_letter
from soc_api.alerting import store
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.facts import AlertFacts, in_window
from soc_api.alerting.levels import higher, highest_grade
from soc_api.alerting.outbox import enqueue_for_alert
from soc_api.alerting.records import AlertRecord
from soc_api.alerting.suppression import covering
from soc_api.steps import Gap, rewind, skip_gap

log = get_logger("alert_intake")
CONSUMER = "alert_store"
SYSTEM = "system:alerting"


class Recorder(Protocol):
    """Appends ledger entries durably (or raises, and nothing of the change is kept)."""

    def record_many(self, drafts: Sequence[EntryDraft], *, checkpoint: bool = True) -> None:
        """Append; `checkpoint=False`: the caller calls `settle` once its transaction is over."""

    def settle(self) -> None:
        """Sign the checkpoint that appends with `checkpoint=False` may have made due."""


@dataclass
class LedgerRecorder:
    """Into the ledger held by this process (one group commit per call)."""

    ledger: Any
    clock: Callable[[], datetime]

    def record_many(self, drafts: Sequence[EntryDraft], *, checkpoint: bool = True) -> None:
        """Append `drafts` durably (see `Recorder`)."""
        if drafts:
            self.ledger.append_many(list(drafts), now=self.clock(), checkpoint=checkpoint)

    def settle(self) -> None:
        """Sign a checkpoint when one is due (outside the caller's state-store transaction)."""
        self.ledger.maybe_checkpoint(now=self.clock())


def store_alert_id(detection_id: str, first_seen: datetime) -> str:
    """The handled alert's id, derived from its first detection alert (the same on every replay):
    `alr-`, 11 hex digits of its first-seen millisecond, 13 of SHA-256 over its detection id.

    Time first, so new alerts sort after older ones: the alert id and every index that leads with
    it (members, observables, changes, notifications) take new rows at their right edge instead of
    at random pages. With ids that were pure hashes, each alert dirtied a random page of each such
    index, and a commit's write-ahead log grew with the store (`datasoc bench alerts`)."""
    millis = int(first_seen.timestamp() * 1000) & (16**11 - 1)
    digest = hashlib.sha256(detection_id.encode("utf-8")).hexdigest()
    return f"alr-{millis:011x}{digest[:13]}"


@dataclass
class IntakeReport:
    """One intake run: records read, new alerts, roll-ups, suppressed, duplicates, dead letters."""

    read: int = 0
    created: int = 0
    grouped: int = 0
    suppressed: int = 0
    duplicates: int = 0
    rejected: int = 0
    notifications: int = 0
    committed_offset: int = 0
    lag: int = 0
    created_ids: list[str] = field(default_factory=list)
    #: The run stopped on a full batch: a backlog, so the next run should come at once.
    backlog: bool = False

    @property
    def more(self) -> bool:
        """Whether a backlog was left for the next run (records that arrived during a run which
        caught up wait for the step's interval, and make one batch instead of many small ones)."""
        return self.backlog and self.lag > 0


def _draft(now: datetime, kind: str, alert_id: str, payload: dict[str, Any]) -> EntryDraft:
    return EntryDraft.create(now=now, kind=kind, actor=SYSTEM, subject=f"alert:{alert_id}", payload=payload)


def take_in(
    state: StateStore, recorder: Recorder, config: AlertingConfig, alerts: Sequence[Alert], *, now: datetime
) -> IntakeReport:
    """Take `alerts` into the store in one transaction (see module docstring)."""
    report = IntakeReport()
    facts = [AlertFacts.of(a, config.grouping) for a in alerts]
    with state.write() as conn:
        known = store.known_members(conn, [f.alert_id for f in facts])
        suppressions = store.active_suppressions(conn, now)
        routes = [*config.routes, *store.stored_routes(conn)]
        drafts: list[EntryDraft] = []
        members: list[tuple[Any, ...]] = []
        observables: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for alert, fact in zip(alerts, facts, strict=True):
            if fact.alert_id in known or fact.alert_id in seen:
                report.duplicates += 1
                continue
            seen.add(fact.alert_id)
            suppression = covering(suppressions, fact.rule_id, fact.common, now)
            target = store.find_open(conn, fact.group_key, suppressed=suppression is not None)
            window = config.grouping.window_seconds
            if target is not None and in_window(
                target.first_seen, target.last_seen, fact.first_seen, fact.last_seen, window
            ):
                drafts.append(_group(conn, config, routes, target, fact, now, report))
                alert_id = target.id
            else:
                alert_id = store_alert_id(fact.alert_id, fact.first_seen)
                drafts.append(_create(conn, config, routes, alert_id, fact, suppression, now, report))
            members.append(store.member_row(fact, alert_id, alert.event_ids, now))
            observables.extend((kind, value, alert_id) for kind, value in fact.observables)
        # Write-only rows that nothing in the batch reads back, in one statement each.
        store.insert_members(conn, members)
        store.add_observables(conn, observables)
        # Entry before effect: the ledger holds the batch before the transaction commits.
        recorder.record_many(drafts, checkpoint=False)
    recorder.settle()  # after the commit: other writers need not wait for the signature
    return report


def _create(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    routes: Sequence[Any],
    alert_id: str,
    fact: AlertFacts,
    suppression: Any,
    now: datetime,
    report: IntakeReport,
) -> EntryDraft:
    _stage, due, responder = config.sla.start(fact.warning_level, now)
    record = store.insert_alert(
        conn,
        alert_id=alert_id,
        facts=fact,
        suppressed_by=suppression.id if suppression is not None else None,
        assignee=responder,
        now=now,
        sla_due=due,
    )
    detail = {
        "detection_id": fact.alert_id,
        "rule_id": fact.rule_id,
        "warning_level": fact.warning_level,
        "grade": fact.grade,
        "event_class": fact.event_class,
        "group_key": fact.group_key,
    }
    if suppression is not None:
        conn.execute("UPDATE suppressions SET hits = hits + 1 WHERE id = ?", (suppression.id,))
        detail["suppression"] = suppression.id
        store.add_change(conn, alert_id, at=now, actor=SYSTEM, action="suppressed", detail=detail)
        report.suppressed += 1
        return _draft(now, "alert.suppressed", alert_id, detail)
    store.add_change(conn, alert_id, at=now, actor=SYSTEM, action="new", detail=detail)
    report.notifications += enqueue_for_alert(conn, config, routes, record, kind="alert", now=now)
    report.created += 1
    report.created_ids.append(alert_id)
    return _draft(now, "alert.new", alert_id, detail)


def _group(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    routes: Sequence[Any],
    target: AlertRecord,
    fact: AlertFacts,
    now: datetime,
    report: IntakeReport,
) -> EntryDraft:
    level = higher(target.warning_level, fact.warning_level)
    grade = highest_grade([target.grade, fact.grade])
    store.roll_up(conn, target, fact, level=level, grade=grade, now=now)
    detail = {
        "detection_id": fact.alert_id,
        "count": target.count + 1,
        "first_seen": min(target.first_seen, fact.first_seen).isoformat(),
        "last_seen": max(target.last_seen, fact.last_seen).isoformat(),
    }
    if target.suppressed_by is not None:
        conn.execute("UPDATE suppressions SET hits = hits + 1 WHERE id = ?", (target.suppressed_by,))
        report.suppressed += 1
    else:
        report.grouped += 1
    if level != target.warning_level:
        detail["warning_level"] = level
        detail["raised_from"] = target.warning_level
    store.add_change(conn, target.id, at=now, actor=SYSTEM, action="grouped", detail=detail)
    if level != target.warning_level and target.suppressed_by is None:
        record = store.get(conn, target.id)
        assert record is not None
        report.notifications += enqueue_for_alert(conn, config, routes, record, kind="level_raised", now=now)
    return _draft(now, "alert.grouped", target.id, detail)


class AlertIntake:
    """The `alert_store` consumer of `alerts`, kept between runs (see module docstring)."""

    def __init__(
        self,
        transport: Transport,
        state: StateStore,
        recorder: Recorder,
        config: AlertingConfig,
        *,
        batch_size: int = 1000,
        on_gap: Callable[[Gap, datetime], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.transport = transport
        self.state = state
        self.recorder = recorder
        self.config = config
        self.batch_size = batch_size
        self._reader: Consumer = transport.consumer(CONSUMER, ALERTS)
        self._on_gap = on_gap
        self._on_change = on_change

    @property
    def committed(self) -> int:
        """The next offset of `alerts` to take in."""
        return self._reader.committed

    def run(self, *, now: datetime, max_batches: int | None = None) -> IntakeReport:
        """Take in up to `max_batches` batches (all that is pending when None)."""
        total = IntakeReport()
        batches = 0
        while max_batches is None or batches < max_batches:
            try:
                records = self._reader.poll(self.batch_size)
            except OffsetOutOfRangeError:
                skip_gap(self.transport, self._reader, now, self._on_gap)
                records = self._reader.poll(self.batch_size)
            if not records:
                total.backlog = False
                break
            try:
                report = self._batch(records, now)
            except BaseException:
                rewind(self.transport, self._reader, now, self._on_gap)
                raise
            for name in (
                "read",
                "created",
                "grouped",
                "suppressed",
                "duplicates",
                "rejected",
                "notifications",
            ):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.created_ids.extend(report.created_ids)
            batches += 1
            total.backlog = len(records) >= self.batch_size
            if not total.backlog:
                # Caught up with the topic as it was at the poll: what arrived since joins the
                # next run's batch (per-batch costs, a transaction, a ledger commit, are shared).
                break
        if (total.created or total.grouped or total.suppressed) and self._on_change is not None:
            self._on_change()
        total.committed_offset = self._reader.committed
        total.lag = max(self.transport.range(ALERTS).end - self._reader.committed, 0)
        return total

    def _batch(self, records: list[Record], now: datetime) -> IntakeReport:
        alerts: list[Alert] = []
        dead: list[bytes] = []
        for record in records:
            where = f"{ALERTS}@{record.offset}"
            try:
                alerts.append(Alert.from_dict(orjson.loads(record.payload), where=where))
            except (ValueError, EventValidationError) as exc:
                dead.append(
                    dead_letter(
                        stage="alerts",
                        source=where,
                        position=record.offset,
                        reason=str(exc)[:1000],
                        raw=record.payload,
                        received_at=now,
                    )
                )
        if dead:
            self.transport.append(DEADLETTER, dead, now=now)
            log.warning("alerts_rejected", count=len(dead), first_offset=records[0].offset)
        report = (
            take_in(self.state, self.recorder, self.config, alerts, now=now) if alerts else IntakeReport()
        )
        report.read = len(records)
        report.rejected = len(dead)
        self._reader.commit()
        return report
