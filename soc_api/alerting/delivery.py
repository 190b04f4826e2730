"""Delivery of the outbox: the supervised `notifier` step.

A round (bounded, it never waits for a receiver): (1) record the sends that finished since the last
round; (2) form the next batches in a transaction (what each send carries is durable before it is
sent); (3) hand them to a thread pool, at most `concurrency` in flight per channel and at most
`per_minute` sends a minute for robots (a burst becomes one digest). A receiver that hangs holds
only its own channel's slots until its timeout; intake and every other channel go on.

Outcomes: delivered (2xx, the mail accepted, the TLS write done) → for `receipt = "delivery"`
channels the alert's 通报 step is done; acknowledgements in the answer are receipts; a failure is
retried after exponential back-off with jitter; after `max_attempts` the notification is
dead-lettered (visible with a resend action). Exactly once *to the receiver's processing*: a crash
between sending and recording re-sends the same batch under the same idempotency key, which the
receiver deduplicates (the local receivers do; tests kill the platform mid-delivery to prove it).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from audit.entry import EntryDraft
from datasoc.logging import get_logger
from datasoc.state import StateStore
from soc_api.alerting import outbox, transitions
from soc_api.alerting.channels import Delivery, Documents, Sender, SendResult
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.errors import DeliveryError
from soc_api.alerting.intake import Recorder
from soc_api.alerting.outbox import Batch, ChannelPlan
from soc_api.alerting.records import ts

log = get_logger("notifier")
NOTIFIER = "system:notifier"
#: Sends a channel may have queued or in flight, per worker.
QUEUE_PER_WORKER = 32


@dataclass(frozen=True, slots=True)
class _Outcome:
    batch: Batch
    result: SendResult | None
    error: DeliveryError | None
    finished: datetime


@dataclass
class DeliveryReport:
    """One round: sends started and finished (delivered, failed, dead-lettered), in flight, lag."""

    started: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    in_flight: int = 0
    #: Seconds the oldest pending notification has waited (0 when none).
    lag_seconds: int = 0


@dataclass
class _ChannelState:
    in_flight: int = 0
    sent: deque[datetime] = field(default_factory=deque)


class Deliverer:
    """Sends the outbox through the configured senders (see module docstring)."""

    def __init__(
        self,
        state: StateStore,
        senders: Mapping[str, Sender],
        config: AlertingConfig,
        recorder: Recorder,
        *,
        clock: Callable[[], datetime],
        jitter: Callable[[], float],
        documents: Callable[[str], Documents | None] = lambda _id: None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.senders = dict(senders)
        self.config = config
        self.recorder = recorder
        self._clock = clock
        self._jitter = jitter
        self._documents = documents
        self._on_change = on_change
        # A pool per channel: a receiver that hangs holds its own channel's workers only.
        self._pools = {
            name: concurrent.futures.ThreadPoolExecutor(
                max_workers=s.concurrency, thread_name_prefix=f"notify-{name}"
            )
            for name, s in self.senders.items()
        }
        self._channels = {name: _ChannelState() for name in self.senders}
        self._done: deque[_Outcome] = deque()
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False
        #: Called (from a worker) when a send finished: the step wakes up to record it.
        self.wake: Callable[[], None] = lambda: None

    def run(self, now: datetime) -> DeliveryReport:
        """One round (see module docstring)."""
        report = DeliveryReport()
        self._record(report, now)
        plans = self._plans(now)
        if plans:
            # Not fsynced on its own: it survives a crash of the process (WAL); a power loss may undo
            # it, and the rows are batched again, each notification still under its own key.
            with self.state.write(durable=False) as conn:
                batches = outbox.form_batches(conn, plans, now=now, busy=set(self._in_flight))
            for batch in batches:
                self._submit(batch, now)
            report.started = len(batches)
        with self.state.read() as conn:
            oldest = outbox.oldest_pending(conn)
        report.lag_seconds = max(int((now - oldest).total_seconds()), 0) if oldest else 0
        report.in_flight = len(self._in_flight)
        return report

    def _plans(self, now: datetime) -> dict[str, ChannelPlan]:
        plans = {}
        for name, sender in self.senders.items():
            channel = self._channels[name]
            # Sends queued per channel: enough to keep its workers busy between two rounds.
            slots = sender.concurrency * QUEUE_PER_WORKER - channel.in_flight
            limit = sender.per_minute
            if limit is not None:
                while channel.sent and now - channel.sent[0] >= timedelta(minutes=1):
                    channel.sent.popleft()
                slots = min(slots, limit - len(channel.sent) - channel.in_flight)
            if slots > 0:
                plans[name] = ChannelPlan(max_batch=sender.max_batch, digest=sender.digest, slots=slots)
        return plans

    def _submit(self, batch: Batch, now: datetime) -> None:
        sender = self.senders[batch.channel]
        channel = self._channels[batch.channel]
        channel.in_flight += 1
        channel.sent.append(now)
        self._in_flight.add(batch.key)
        delivery = Delivery(batch.key, tuple(r.payload for r in batch.rows), self._documents)

        def send() -> None:
            try:
                result, error = sender.send(delivery), None
            except DeliveryError as exc:
                result, error = None, exc
            except Exception as exc:  # a sender's bug must not kill the worker: a failed attempt
                log.error("sender_failed", channel=batch.channel, error_type=type(exc).__name__)
                result, error = None, DeliveryError(f"{batch.channel}: {type(exc).__name__}")
            with self._lock:
                self._done.append(_Outcome(batch, result, error, self._clock()))
            self.wake()

        self._pools[batch.channel].submit(send)

    def _record(self, report: DeliveryReport, now: datetime) -> None:
        with self._lock:
            finished = list(self._done)
            self._done.clear()
        if not finished:
            return
        drafts: list[EntryDraft] = []
        changed = False
        # Delivery bookkeeping survives a crash of the process without an fsync of its own (WAL);
        # after a power loss a notification may be sent again, and the receiver knows its key.
        with self.state.write(durable=False) as conn:
            for outcome in finished:
                batch = outcome.batch
                sender = self.senders[batch.channel]
                if outcome.error is None:
                    outbox.record_success(conn, batch, now=outcome.finished)
                    report.delivered += len(batch.rows)
                    alerts = {r.alert_id for r in batch.rows if r.alert_id is not None}
                    if sender.receipt == "delivery":
                        for alert_id in sorted(alerts):
                            entry = transitions.notify(
                                conn,
                                self.config,
                                alert_id,
                                actor=NOTIFIER,
                                now=now,
                                detail={"channel": batch.channel, "key": batch.key, "via": "delivery"},
                            )
                            changed = True
                            if entry is not None:
                                drafts.append(entry)
                    for alert_id in outcome.result.acks if outcome.result else ():
                        entry = record_receipt(
                            conn,
                            self.config,
                            alert_id,
                            channel=batch.channel,
                            actor=f"receiver:{batch.channel}",
                            now=now,
                        )
                        changed = True
                        if entry is not None:
                            drafts.append(entry)
                else:
                    attempts = batch.attempts + 1
                    error = outcome.error
                    final = not error.retry or attempts >= self.config.retry.max_attempts
                    retry_at = None if final else now + self.config.retry.delay(attempts, self._jitter())
                    outbox.record_failure(conn, batch, error.detail, now=now, retry_at=retry_at)
                    log.warning(
                        "delivery_failed",
                        channel=batch.channel,
                        batch=batch.key,
                        attempts=attempts,
                        final=final,
                        error=error.detail[:200],
                    )
                    if final:
                        report.dead += len(batch.rows)
                        drafts.extend(_dead(conn, batch, error.detail, now))
                        changed = True
                    else:
                        report.failed += len(batch.rows)
            # Entries before the effect: the ledger holds them before this transaction commits.
            self.recorder.record_many(drafts, checkpoint=False)
        with self._lock:
            for outcome in finished:
                self._in_flight.discard(outcome.batch.key)
                self._channels[outcome.batch.channel].in_flight -= 1
        if changed and self._on_change is not None:
            self._on_change()
        # Signed once the transaction is over (the intake need not wait for it); last, so a
        # failure here cannot leave a recorded send counted as in flight.
        self.recorder.settle()

    def close(self) -> None:
        """Stop: sends in flight are abandoned (re-sent, same keys, after the next start)."""
        self._closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        for sender in self.senders.values():
            try:
                sender.close()
            except Exception as exc:  # closing is best effort; the process is ending
                log.warning("sender_close_failed", channel=sender.name, error=str(exc)[:200])


def _dead(conn: Any, batch: Batch, error: str, now: datetime) -> list[EntryDraft]:
    from soc_api.alerting import store

    drafts = []
    for row in batch.rows:
        detail = {"channel": batch.channel, "key": row.key, "notification": row.id, "error": error[:300]}
        subject = row.alert_id or "bulletin"
        if row.alert_id is not None:
            store.add_change(
                conn, row.alert_id, at=now, actor=NOTIFIER, action="notification_dead", detail=detail
            )
        drafts.append(transitions.draft(now, "alert.notification_dead", NOTIFIER, subject, detail))
    return drafts


def record_receipt(
    conn: Any, config: AlertingConfig, alert_id: str, *, channel: str, actor: str, now: datetime
) -> EntryDraft | None:
    """An acknowledgement from a receiver (the upper platform): 通报 done, the rows acknowledged."""
    conn.execute(
        "UPDATE notifications SET acked_at = ? WHERE alert_id = ? AND channel = ? AND acked_at IS NULL",
        (ts(now), alert_id, channel),
    )
    return transitions.notify(
        conn, config, alert_id, actor=actor, now=now, detail={"channel": channel, "via": "receipt"}
    )
