"""`/api/v1/alerts`: INTERIM, read-only alerts for the console (issue 17's alert store replaces it).

The queue (`GET /alerts`), one alert with its rule, the fields the rule tests and the events it
carries (`GET /alerts/{id}`), the ledger proof of its events' access traces
(`GET /alerts/{id}/proof`), and the live stream of new alerts (`GET /alerts/stream`,
server-sent events). The stream is bounded: at most `STREAMS_PER_SESSION` at once per session or
token, a heartbeat comment every `HEARTBEAT_SECONDS`, the session re-checked at each heartbeat
(a signed-out or expired session ends its stream with an `expired` event), and every stream ends
after `STREAM_SECONDS` (the browser's EventSource reconnects with `Last-Event-ID`, authenticated
again).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from datasoc.alert import Alert
from detection.trace import TRACE_RULE_IDS, TRACED_FIELDS
from soc_api.identity.actors import Actor
from soc_api.identity.errors import IdentityError, NotFoundError, TooManyStreamsError
from soc_api.identity.roles import Permission
from soc_api.webapi.alertfeed import AlertFeed, AlertQuery, FedAlert
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.ledgerproof import prove
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/alerts", tags=["alerts"])
STREAMS_PER_SESSION = 3
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 300.0
POLL_SECONDS = 1.0
_PROVEN_EVENTS = 10

WarningLevel = Literal["red", "orange", "yellow", "blue"]
Status = Literal["new", "acknowledged", "in_progress", "resolved", "false_positive"]


class AlertSummary(BaseModel):
    """An alert in the queue (告警队列)."""

    id: str
    position: int
    rule_id: str
    rule_title: str
    rule_level: str
    warning_level: str
    status: str
    count: int
    first_seen: datetime
    last_seen: datetime
    group: dict[str, Any]
    classification: str | None
    user: str | None
    asset: str | None


class AlertRule(BaseModel):
    """The rule that raised an alert, as found in the rule files (None fields when it is gone)."""

    key: str | None
    title: str
    level: str
    description: str
    tags: list[str]
    fields: list[str]


class AlertDetail(AlertSummary):
    """An alert with its rule, the fields the rule tests, and the events it carries."""

    rule: AlertRule
    matched_fields: list[str]
    event_ids: list[str]
    events: list[dict[str, Any]]


class ProofStepPublic(BaseModel):
    """One step of a check and its outcome."""

    name_zh: str
    name_en: str
    ok: bool
    detail: str


class EventProof(BaseModel):
    """The ledger entry tracing one event, and its checked inclusion proof."""

    event_id: str
    ok: bool
    seq: int | None
    entry: str | None
    leaf_hash: str | None
    path: list[str]
    tree_size: int | None
    root: str | None
    checkpoint_time: str | None
    key_id: str | None
    steps: list[ProofStepPublic]


class AlertProof(BaseModel):
    """Proofs for the alert's events (at most 10)."""

    alert_id: str
    proofs: list[EventProof]


def _feed(services: ApiServices) -> AlertFeed:
    if services.alerts is None:
        raise NotFoundError("this process serves no alerts")
    return services.alerts


def _first(alert: Alert, field: str) -> str | None:
    for event in alert.events:
        value = event.get(field)
        if isinstance(value, str):
            return value
    value = alert.group.get(field)
    return value if isinstance(value, str) else None


def _summary(fed: FedAlert) -> AlertSummary:
    a = fed.alert
    return AlertSummary(
        id=a.alert_id,
        position=fed.position,
        rule_id=a.rule_id,
        rule_title=a.rule_title,
        rule_level=a.rule_level,
        warning_level=a.warning_level,
        status=a.status,
        count=a.count,
        first_seen=a.first_seen,
        last_seen=a.last_seen,
        group=dict(a.group),
        classification=_first(a, "data.classification"),
        user=_first(a, "user.name"),
        asset=_first(a, "data.asset.name") or _first(a, "data.asset.id"),
    )


@router.get("", response_model=Page[AlertSummary])
def list_alerts(
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    warning_level: WarningLevel | None = None,
    rule_id: Annotated[str | None, Query(max_length=256)] = None,
    status: Status | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    since: Instant | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AlertSummary]:
    """The alert queue (告警队列), newest first; filters AND-ed; `text` searches rule and group."""
    before = decode_cursor(cursor, (int,))
    query = AlertQuery(
        warning_level=warning_level,
        rule_id=rule_id,
        status=status,
        text=text,
        since=since,
        before=before[0] if before else None,
        limit=limit + 1,
    )
    found = _feed(services).search(query)
    more = len(found) > limit
    found = found[:limit]
    return Page[AlertSummary](
        items=[_summary(f) for f in found],
        next_cursor=encode_cursor([found[-1].position]) if more and found else None,
    )


def _stream_slots(request: Request) -> tuple[threading.Lock, dict[str, int]]:
    state = request.app.state
    if not hasattr(state, "alert_streams"):
        state.alert_streams = (threading.Lock(), {})
    slots: tuple[threading.Lock, dict[str, int]] = state.alert_streams
    return slots


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "Server-sent events: `alert` (data: an AlertSummary), `expired`, heartbeats",
        }
    },
)
async def stream_alerts(
    request: Request,
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    after: Annotated[int | None, Query(ge=-1, le=2**53 - 1)] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """New alerts as they arrive (实时告警), as server-sent events; `after` (or `Last-Event-ID`) is
    the position of the last alert seen (default: now)."""
    feed = _feed(services)
    resume = after
    if last_event_id is not None and last_event_id.isdigit():
        resume = int(last_event_id)
    if resume is None:
        resume = await asyncio.to_thread(feed.head)
    key = who.session or f"{who.kind}:{who.id}"
    lock, open_streams = _stream_slots(request)
    with lock:
        if open_streams.get(key, 0) >= STREAMS_PER_SESSION:
            raise TooManyStreamsError(
                f"同一会话最多 {STREAMS_PER_SESSION} 个实时连接 / "
                f"at most {STREAMS_PER_SESSION} live streams per session"
            )
        open_streams[key] = open_streams.get(key, 0) + 1
    session_id = request.cookies.get(services.config.cookie_name) if who.session else None
    return StreamingResponse(
        _events(request, services, feed, resume, key, session_id),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request,
    services: ApiServices,
    feed: AlertFeed,
    position: int,
    key: str,
    session_id: str | None,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    beat = started
    try:
        yield f"retry: 3000\n: position {position}\n\n".encode()
        while loop.time() - started < STREAM_SECONDS:
            if await request.is_disconnected():
                return
            for fed in await asyncio.to_thread(feed.after, position, 100):
                position = fed.position
                data = json.dumps(_summary(fed).model_dump(mode="json"), ensure_ascii=False)
                yield f"event: alert\nid: {position}\ndata: {data}\n\n".encode()
            if loop.time() - beat >= HEARTBEAT_SECONDS:
                beat = loop.time()
                if session_id is not None and not _session_alive(services, session_id):
                    yield b"event: expired\ndata: {}\n\n"
                    return
                yield b": heartbeat\n\n"
            await asyncio.sleep(POLL_SECONDS)
    finally:
        lock, open_streams = _stream_slots(request)
        with lock:
            left = open_streams.get(key, 1) - 1
            if left > 0:
                open_streams[key] = left
            else:
                open_streams.pop(key, None)


def _session_alive(services: ApiServices, session_id: str) -> bool:
    """Whether the session still stands (not signed out, not expired); does not touch its idle clock."""
    try:
        services.identity.signin.session_of(session_id, services.clock())
    except IdentityError:
        return False
    return True


def _alert(services: ApiServices, alert_id: str) -> FedAlert:
    fed = _feed(services).get(alert_id[:128])
    if fed is None:
        raise NotFoundError(f"no alert {alert_id[:128]!r}")
    return fed


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(
    alert_id: str, who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services
) -> AlertDetail:
    """One alert (告警详情): its rule, the fields the rule tests that its events carry, its events."""
    fed = _alert(services, alert_id)
    a = fed.alert
    info = None
    if services.rules is not None:
        info = next((r for r in services.rules.rules() if r.ref == a.rule_id), None)
    rule = AlertRule(
        key=info.key if info else None,
        title=info.title if info else a.rule_title,
        level=info.level if info else a.rule_level,
        description=info.description if info else "",
        tags=list(info.tags) if info else list(a.rule_tags),
        # A trace alert has no rule file: its fields are those the trace judges an access by.
        fields=list(info.fields) if info else list(TRACED_FIELDS) if a.rule_id in TRACE_RULE_IDS else [],
    )
    carried = {k for e in a.events for k in e}
    return AlertDetail(
        **_summary(fed).model_dump(),
        rule=rule,
        matched_fields=[f for f in rule.fields if f in carried],
        event_ids=list(a.event_ids),
        events=[{k: v for k, v in e.items() if k != "log.original"} for e in a.events],
    )


@router.get("/{alert_id}/proof", response_model=AlertProof)
def alert_proof(
    alert_id: str, who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services
) -> AlertProof:
    """The ledger proof (账本证明) that each of the alert's events (at most 10) was traced: the
    access entry, its inclusion under the latest SM2-signed checkpoint, each step checked."""
    fed = _alert(services, alert_id)
    if services.ledger is None or services.signer is None:
        raise NotFoundError("this process does not hold the ledger")
    pem = services.signer.public_key_pem()
    proofs = []
    for event in fed.alert.events[:_PROVEN_EVENTS]:
        p = prove(services.ledger, pem, dict(event))
        proofs.append(
            EventProof(
                event_id=p.event_id,
                ok=p.ok,
                seq=p.seq,
                entry=p.entry,
                leaf_hash=p.leaf_hash,
                path=list(p.path),
                tree_size=p.tree_size,
                root=p.root,
                checkpoint_time=p.checkpoint_time,
                key_id=p.key_id,
                steps=[
                    ProofStepPublic(name_zh=s.name_zh, name_en=s.name_en, ok=s.ok, detail=s.detail)
                    for s in p.steps
                ],
            )
        )
    return AlertProof(alert_id=fed.alert.alert_id, proofs=proofs)
