"""`/api/v1/alerts`: the alert queue (filters, cursor pages), one alert in full, its lifecycle
(处置 start, assign, comment, 闭环 close, reopen), receipts from the upper platform, and the SSE
stream of alert changes the console's queue follows.

SSE (`GET /api/v1/alerts/stream`): `text/event-stream`, one `event: alert` per change with
`id: <seq>` (the change's sequence number) and the change with the alert as it stands as JSON
`data`; it starts after `Last-Event-ID` (or `?after=`), so a browser's `EventSource` resumes where
it left off. Bounded: at most `STREAMS_PER_SESSION` at once per session or token, a heartbeat
comment every `HEARTBEAT_SECONDS` with the session re-checked (a signed-out or expired session
ends its stream with an `expired` event), and each request stays open at most `sse_seconds`
(then the client reconnects: `retry: 2000`, authenticated again).

One alert's detail also carries its evidence (`soc_api.webapi.alertevidence`), and
`GET /alerts/{id}/proof` the ledger proof of its events' access traces.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from soc_api.alerting import store
from soc_api.alerting.records import ts
from soc_api.alerting.service import Alerting
from soc_api.identity.actors import Actor
from soc_api.identity.errors import IdentityError, NotFoundError, TooManyStreamsError
from soc_api.identity.roles import Permission
from soc_api.webapi.alertevidence import AlertProof, event_ids, evidence, proofs, read_events
from soc_api.webapi.alerting_schemas import (
    AlertDetailPublic,
    AlertPublic,
    AssignBody,
    ChangeEventPublic,
    ChangePublic,
    CloseBody,
    CommentBody,
    MemberPublic,
    NotificationPublic,
    ReceiptBody,
    ReopenBody,
    StartBody,
)
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix=f"{API_PREFIX}/alerts", tags=["alerts"])
AlertId = Annotated[str, Query(max_length=128)]
_STATUSES = "^(new|notified|in_progress|closed)$"
_LEVELS = "^(red|orange|yellow|blue)$"
#: Live streams one session (or token) may hold at once.
STREAMS_PER_SESSION = 3
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 0.5


def alerting_of(services: ApiServices) -> Alerting:
    """The alerting service, or 404 when this process serves none."""
    if services.alerting is None:
        raise NotFoundError("this process serves no alert store")
    return services.alerting


@router.get("", response_model=Page[AlertPublic])
def list_alerts(
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    status: Annotated[list[Annotated[str, Query(pattern=_STATUSES)]] | None, Query(max_length=4)] = None,
    level: Annotated[list[Annotated[str, Query(pattern=_LEVELS)]] | None, Query(max_length=4)] = None,
    rule: Annotated[str | None, Query(max_length=256)] = None,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    case: Annotated[str | None, Query(max_length=128)] = None,
    suppressed: Annotated[
        bool | None, Query(description="true: suppressed only; omitted: the queue")
    ] = False,
    start: Instant | None = None,
    end: Instant | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AlertPublic]:
    """The alert queue (预警队列), newest first; filters AND-ed; suppressed alerts apart."""
    after = decode_cursor(cursor, (str, str))
    query = store.AlertQuery(
        status=tuple(status or ()),
        levels=tuple(level or ()),
        rule_id=rule,
        assignee=assignee,
        case_id=case,
        suppressed=suppressed,
        start=start,
        end=end,
        text=text,
        limit=limit + 1,
        after=(after[0], after[1]) if after else None,
    )
    found = alerting_of(services).find(query)
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if found else None
    return Page[AlertPublic](
        items=[AlertPublic.of(a) for a in found],
        next_cursor=encode_cursor([ts(last.raised_at), last.id]) if more and last else None,
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
            "description": "Server-sent events: `alert` (data: a ChangeEventPublic), `expired`, heartbeats",
        }
    },
)
async def stream_changes(
    request: Request,
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Server-sent events of alert changes (告警变化推送), after `Last-Event-ID` or `after`; each
    carries the alert as it stands, so a queue inserts or updates its row from the event alone."""
    alerting = alerting_of(services)
    start = after
    if start is None and last_event_id is not None and last_event_id.isdigit():
        start = int(last_event_id)
    if start is None:
        start = await asyncio.to_thread(alerting.last_change)
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
        _events(request, services, alerting, start, key, session_id),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, services: ApiServices, alerting: Alerting, seq: int, key: str, session_id: str | None
) -> AsyncIterator[bytes]:
    """The stream's body: at most `sse_seconds` long, a heartbeat (and the session re-checked)
    every `HEARTBEAT_SECONDS`; the slot is given back however it ends."""
    try:
        yield b"retry: 2000\n\n"
        deadline = time.monotonic() + services.sse_seconds
        beat = time.monotonic()
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            changes = await asyncio.to_thread(alerting.changes_after, seq, 200)
            if changes:
                alerts = await asyncio.to_thread(alerting.get_many, [c.alert_id for c in changes])
                for change in changes:
                    found = alerts.get(change.alert_id)
                    event = ChangeEventPublic(
                        **ChangePublic.of(change).model_dump(), alert=AlertPublic.of(found) if found else None
                    )
                    data = json.dumps(event.model_dump(mode="json"), ensure_ascii=False)
                    yield f"id: {change.seq}\nevent: alert\ndata: {data}\n\n".encode()
                    seq = change.seq
                continue
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                if session_id is not None and not _session_alive(services, session_id):
                    yield b"event: expired\ndata: {}\n\n"
                    return
                yield b": heartbeat\n\n"
            await asyncio.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
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


@router.get("/{alert_id}", response_model=AlertDetailPublic)
def get_alert(
    alert_id: str, who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services
) -> AlertDetailPublic:
    """One alert (告警详情) with its detection alerts, history and notifications, the rule that
    raised it, its events (at most 10, read from the event store and ledgered; none for someone
    who may not read events) and the fields the rule tests that they carry."""
    detail = alerting_of(services).get(alert_id[:128])
    return AlertDetailPublic(
        alert=AlertPublic.of(detail.alert),
        members=[MemberPublic.of(m) for m in detail.members],
        history=[ChangePublic.of(c) for c in detail.changes],
        notifications=[NotificationPublic.of(n) for n in detail.notifications],
        evidence=evidence(services, who, detail.alert, detail.members),
    )


@router.get("/{alert_id}/proof", response_model=AlertProof)
def alert_proof(
    alert_id: str, who: Annotated[Actor, require(Permission.ALERTS_READ)], services: Services
) -> AlertProof:
    """The ledger proof (账本证明) that each of the alert's events (at most 10) was traced: the
    access entry, its inclusion under the latest SM2-signed checkpoint, each step checked."""
    detail = alerting_of(services).get(alert_id[:128])
    if services.ledger is None or services.signer is None:
        raise NotFoundError("this process does not hold the ledger")
    events = read_events(services, who, detail.alert.id, event_ids(detail.members))
    return proofs(services.ledger, services.signer.public_key_pem(), detail.alert.id, events)


@router.post("/{alert_id}/start", response_model=AlertPublic)
def start_alert(
    alert_id: str,
    body: StartBody,
    who: Annotated[Actor, require(Permission.ALERTS_HANDLE)],
    services: Services,
) -> AlertPublic:
    """处置: take the alert in hand (assigned to you when nobody has it)."""
    return AlertPublic.of(
        alerting_of(services).start(who, alert_id[:128], note=body.note, now=services.clock())
    )


@router.post("/{alert_id}/assign", response_model=AlertPublic)
def assign_alert(
    alert_id: str,
    body: AssignBody,
    who: Annotated[Actor, require(Permission.ALERTS_HANDLE)],
    services: Services,
) -> AlertPublic:
    """Assign the alert (分派)."""
    return AlertPublic.of(
        alerting_of(services).assign(who, alert_id[:128], body.assignee, now=services.clock())
    )


@router.post("/{alert_id}/comments", response_model=AlertPublic)
def comment_alert(
    alert_id: str,
    body: CommentBody,
    who: Annotated[Actor, require(Permission.ALERTS_HANDLE)],
    services: Services,
) -> AlertPublic:
    """Comment (备注)."""
    return AlertPublic.of(alerting_of(services).comment(who, alert_id[:128], body.text, now=services.clock()))


@router.post("/{alert_id}/close", response_model=AlertPublic)
def close_alert(
    alert_id: str,
    body: CloseBody,
    who: Annotated[Actor, require(Permission.ALERTS_HANDLE)],
    services: Services,
) -> AlertPublic:
    """闭环: close with a resolution and a disposition note."""
    service = alerting_of(services)
    return AlertPublic.of(
        service.close(who, alert_id[:128], resolution=body.resolution, note=body.note, now=services.clock())
    )


@router.post("/{alert_id}/reopen", response_model=AlertPublic)
def reopen_alert(
    alert_id: str,
    body: ReopenBody,
    who: Annotated[Actor, require(Permission.ALERTS_HANDLE)],
    services: Services,
) -> AlertPublic:
    """Reopen a closed alert (its history is kept)."""
    return AlertPublic.of(
        alerting_of(services).reopen(who, alert_id[:128], note=body.note, now=services.clock())
    )


@router.post("/{alert_id}/receipts", response_model=AlertPublic)
def receipt_alert(
    alert_id: str,
    body: ReceiptBody,
    who: Annotated[Actor, require(Permission.ALERTS_RECEIPT)],
    services: Services,
) -> AlertPublic:
    """An upper platform acknowledges the alert's notification on `channel`: 通报 done."""
    return AlertPublic.of(
        alerting_of(services).receipt(who, alert_id[:128], channel=body.channel, now=services.clock())
    )
