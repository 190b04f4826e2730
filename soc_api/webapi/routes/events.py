"""`/api/v1/events`: event search (without original logs) and one event with its original log.

Both are sensitive reads of people's activity: each is ledgered (`read.events_search`,
`read.event_original`) before the answer.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from datasoc.store import EventStore, FieldFilter, SearchQuery
from datasoc.store.errors import QueryError
from soc_api.identity.actors import Actor
from soc_api.identity.audit import audit_draft, audited
from soc_api.identity.errors import InvalidRequestError, NotFoundError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page

router = APIRouter(prefix=f"{API_PREFIX}/events", tags=["events"])
_FILTERS = (
    "event.action",
    "user.name",
    "data.asset.id",
    "data.classification",
    "observer.collector",
    "event.dataset",
)


class EventSummary(BaseModel):
    """An event without its original log line."""

    id: str
    timestamp: str
    fields: dict[str, Any]


class EventFull(EventSummary):
    """An event with its original log line."""

    original: str | None


def _store(services: ApiServices) -> EventStore:
    if services.events is None:
        raise NotFoundError("this process serves no event store")
    return services.events


@router.get("", response_model=Page[EventSummary])
def search_events(
    who: Annotated[Actor, require(Permission.EVENTS_READ)],
    services: Services,
    start: Instant | None = None,
    end: Instant | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=128)] = None,
    user: Annotated[str | None, Query(max_length=128)] = None,
    asset: Annotated[str | None, Query(max_length=128)] = None,
    classification: Annotated[str | None, Query(pattern="^(general|important|core)$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EventSummary]:
    """Events newest first (事件检索), last 24 h by default; filters AND-ed; `text` searches words."""
    now = services.clock()
    end = end or now + timedelta(minutes=1)
    start = start or end - timedelta(days=1)
    if start.tzinfo is None or end.tzinfo is None:
        start, end = start.replace(tzinfo=start.tzinfo or UTC), end.replace(tzinfo=end.tzinfo or UTC)
    values = dict(zip(_FILTERS[:4], (action, user, asset, classification), strict=True))
    filters = tuple(FieldFilter.eq(f, v) for f, v in values.items() if v is not None)
    try:
        query = SearchQuery(start=start, end=end, filters=filters, text=text, limit=limit, after=cursor)
    except QueryError as exc:
        raise InvalidRequestError(str(exc)) from None
    criteria = {
        k: v
        for k, v in (("start", start.isoformat()), ("end", end.isoformat()), ("text", text), *values.items())
        if v
    }
    draft = audit_draft(
        now=now,
        kind="read.events_search",
        actor=who.label,
        subject="events",
        outcome="success",
        criteria=criteria,
    )
    try:
        page = audited(services.identity.audit, draft, lambda: _store(services).search(query))
    except QueryError as exc:
        raise InvalidRequestError(str(exc)) from None
    items = []
    for event in page.events:
        fields = {k: v for k, v in event.to_dict().items() if k != "log.original"}
        items.append(EventSummary(id=event.event_id, timestamp=str(fields.get("@timestamp")), fields=fields))
    return Page[EventSummary](items=items, next_cursor=page.next_cursor)


@router.get("/{event_id}", response_model=EventFull)
def get_event(
    event_id: str, who: Annotated[Actor, require(Permission.EVENTS_READ_ORIGINAL)], services: Services
) -> EventFull:
    """One event with its original log line (原始日志); the read is ledgered."""
    event_id = event_id[:128]
    draft = audit_draft(
        now=services.clock(),
        kind="read.event_original",
        actor=who.label,
        subject=f"event:{event_id}",
        outcome="success",
    )
    event = audited(services.identity.audit, draft, lambda: _store(services).get(event_id))
    if event is None:
        raise NotFoundError(f"no event {event_id!r}")
    data = event.to_dict()
    original = data.pop("log.original", None)
    return EventFull(
        id=event.event_id,
        timestamp=str(data.get("@timestamp")),
        fields=data,
        original=original if isinstance(original, str) else None,
    )
