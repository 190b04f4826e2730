"""Provider events that announce a new or regraded dataset become catalog proposals (为所有者确认).

The provider portal's log (`collectors.parsers.provider`, parser `provider_json`) says when a department
publishes a dataset the catalog does not know (`dataset.publish`) or regrades one (`dataset.grade`, with
the grade before and after and the basis). Such an event changes nothing by itself: `ProposalConsumer`
(consumer `proposals` on `events`, a supervised step) records it as a proposal, once per event
(the proposal's id is derived from the event id, so a replay proposes nothing new), and the asset's
data owner or a security administrator accepts or rejects it (`CatalogService.accept`/`reject`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from datasoc.transport import EVENTS, Consumer, OffsetOutOfRangeError, Transport
from soc_api.governance.catalog import CatalogService
from soc_api.governance.records import Proposal
from soc_api.identity.audit import audit_draft
from soc_api.steps import Gap, rewind, skip_gap
from soc_api.supervisor import StepReport

CONSUMER = "proposals"
PROVIDER_PARSER = "provider_json"


def proposal_of(event: Mapping[str, Any], now: datetime, known: Callable[[str], bool]) -> Proposal | None:
    """The proposal an event makes (None for any other event). Pure but for `known(asset id)`."""
    if event.get("event.dataset") != PROVIDER_PARSER or event.get("event.outcome") != "success":
        return None
    asset = event.get("data.asset.id")
    action = event.get("event.action")
    if not isinstance(asset, str) or not asset:
        return None
    who = {
        "operator": event.get("user.name"),
        "department": event.get("user.group.id"),
        "event_id": event.get("event.id"),
        "at": event.get("@timestamp"),
    }
    if action == "dataset.grade":
        document = {
            **who,
            "from": event.get("datasoc.grade.from"),
            "to": event.get("datasoc.grade.to"),
            "basis": event.get("datasoc.grade.basis") or event.get("event.reason"),
        }
        kind = "grade"
    elif action == "dataset.publish" and not known(asset):
        document = {
            **who,
            "name": event.get("data.asset.name"),
            "version": event.get("data.asset.version"),
            "record_count": event.get("data.records"),
        }
        kind = "new_asset"
    else:
        return None
    document = {k: v for k, v in document.items() if v is not None}
    return Proposal(f"P-{event.get('event.id')}", asset, kind, "provider", document, "open", now)


@dataclass(frozen=True)
class ProposalReport:
    """One round: events read, proposals made, events left."""

    read: int
    proposed: int
    lag: int

    @property
    def more(self) -> bool:
        """Whether events were left for the next round."""
        return self.lag > 0


class ProposalConsumer:
    """Consumer `proposals` on `events` (see module docstring)."""

    def __init__(
        self,
        transport: Transport,
        catalog: CatalogService,
        *,
        batch_size: int = 1000,
        on_gap: Callable[[Gap, datetime], None] | None = None,
    ) -> None:
        self.transport = transport
        self.catalog = catalog
        self.batch_size = batch_size
        self._on_gap = on_gap
        self._reader: Consumer | None = None

    def _propose(self, proposal: Proposal, now: datetime) -> bool:
        store = self.catalog.store
        if store.find_proposal(proposal.id) is not None:
            return False  # this event proposed it already
        self.catalog.audit.record(
            audit_draft(
                now=now,
                kind="admin.proposal_received",
                actor="system:governance",
                subject=proposal.asset_id,
                outcome="success",
                proposal=proposal.id,
                change=proposal.kind,
                document=dict(proposal.document),
            )
        )
        return store.add_proposal(proposal)

    def run(self, *, now: datetime, max_batches: int | None = None) -> ProposalReport:
        """Read what is new on `events`; commit after the proposals are stored."""
        if self._reader is None:
            self._reader = self.transport.consumer(CONSUMER, EVENTS)
        reader = self._reader
        read = proposed = batches = 0
        while max_batches is None or batches < max_batches:
            try:
                records = reader.poll(self.batch_size)
            except OffsetOutOfRangeError:
                skip_gap(self.transport, reader, now, self._on_gap)
                records = reader.poll(self.batch_size)
            if not records:
                break
            try:
                for record in records:
                    if b"provider_json" not in record.payload:
                        continue  # cheap: only the provider portal's events can propose
                    event = orjson.loads(record.payload)
                    if not isinstance(event, dict):
                        continue
                    proposal = proposal_of(event, now, lambda a: self.catalog.store.find_asset(a) is not None)
                    if proposal is not None and self._propose(proposal, now):
                        proposed += 1
                reader.commit()
            except BaseException:
                rewind(self.transport, reader, now, self._on_gap)
                raise
            read += len(records)
            batches += 1
        lag = max(self.transport.range(EVENTS).end - reader.committed, 0)
        return ProposalReport(read, proposed, lag)


@dataclass
class ProposalStep:
    """The consumer as a supervised step (bounded rounds, its lag reported)."""

    consumer: ProposalConsumer
    interval: float = 1.0
    lag_bound: int | None = 200_000
    max_batches: int = 20
    name: str = "proposals"

    def run(self, now: datetime) -> StepReport:
        report = self.consumer.run(now=now, max_batches=self.max_batches)
        return StepReport(work=report.read, more=report.more, lag=report.lag)
