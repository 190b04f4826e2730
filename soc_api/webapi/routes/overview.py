"""`/api/v1/overview`: the console's dashboard figures in one answer (态势总览).

Aggregates only (counts, never events): events per second by source over time, the grade heat map
(core / important / general by lifecycle stage), source health, the ledger's size and its latest
signed checkpoint; alert counts by warning level over time and the top rules (from the alert
store: queue alerts, suppressed ones left out, by when they were last seen) only for someone who
may read alerts. Times are buckets of the event time, aligned on the window's start.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from datasoc.event import CLASSIFICATIONS
from datasoc.store import FieldFilter
from soc_api.identity.actors import Actor
from soc_api.identity.errors import InvalidRequestError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Instant
from soc_api.webapi.routes.observe import SourcePublic, list_sources

router = APIRouter(prefix=f"{API_PREFIX}/overview", tags=["overview"])
#: Buckets per window (so the charts have the same number of points whatever the window).
BUCKETS = 48
LIFECYCLE = ("collect", "store", "use", "process", "transmit", "provide", "disclose", "delete")


class Series(BaseModel):
    """One named series of (bucket start, value) points."""

    name: str
    points: list[tuple[datetime, float]]


class GradeCell(BaseModel):
    """Events of one grade at one lifecycle stage."""

    classification: str
    lifecycle: str
    count: int


class RuleCount(BaseModel):
    """Alerts raised by one rule."""

    rule_id: str
    rule_title: str
    count: int


class LedgerStatus(BaseModel):
    """The audit ledger: entries, and its latest SM2-signed checkpoint."""

    size: int
    checkpoint_size: int | None
    checkpoint_time: str | None
    checkpoint_root: str | None


class Overview(BaseModel):
    """The dashboard (态势总览)."""

    start: datetime
    end: datetime
    bucket_seconds: float
    events_total: int
    events_per_second: list[Series]
    grades: list[GradeCell]
    alerts_by_level: list[Series] | None
    top_rules: list[RuleCount] | None
    sources: list[SourcePublic] | None
    ledger: LedgerStatus | None


def ledger_status(services: ApiServices) -> LedgerStatus | None:
    """The ledger's size and latest checkpoint, or None when this process holds no ledger."""
    if services.ledger is None:
        return None
    store = services.ledger.store
    latest = store.latest_checkpoint()
    cp = latest.checkpoint if latest else None
    return LedgerStatus(
        size=store.size,
        checkpoint_size=cp.size if cp else None,
        checkpoint_time=cp.time if cp else None,
        checkpoint_root=cp.root_hex() if cp else None,
    )


@router.get("", response_model=Overview)
def overview(
    who: Annotated[Actor, require(Permission.SOURCES_READ)],
    services: Services,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
    end: Instant | None = None,
) -> Overview:
    """Dashboard figures for the `hours` before `end` (default: now)."""
    stop = (end or services.clock()).replace(microsecond=0)
    window = timedelta(hours=hours)
    start = stop - window
    if start.year < 1970:
        raise InvalidRequestError("the window starts before 1970 / 时间窗口早于 1970 年")
    bucket = window / BUCKETS
    per_source: dict[str, list[tuple[datetime, float]]] = {}
    total = 0
    grades: list[GradeCell] = []
    if services.events is not None:
        seconds = bucket.total_seconds()
        for b in services.events.count_by("event.dataset", start, stop, bucket, origin=start):
            per_source.setdefault(str(b.value), []).append((b.start, b.count / seconds))
            total += b.count
        for grade in reversed(CLASSIFICATIONS):
            stages = services.events.count_by(
                "datasoc.lifecycle",
                start,
                stop,
                window,
                filters=(FieldFilter.eq("data.classification", grade),),
                origin=start,
            )
            counts = Counter({str(b.value): b.count for b in stages})
            grades.extend(GradeCell(classification=grade, lifecycle=s, count=counts[s]) for s in LIFECYCLE)
    by_level = top = None
    if who.can(Permission.ALERTS_READ) and services.alerting is not None:
        levels: dict[str, Counter[datetime]] = {w: Counter() for w in ("red", "orange", "yellow", "blue")}
        rules: Counter[tuple[str, str]] = Counter()
        for stamp in services.alerting.stamps(start, stop):
            slot = start + bucket * int((stamp.last_seen - start) / bucket)
            levels.setdefault(stamp.warning_level, Counter())[slot] += 1
            rules[(stamp.rule_id, stamp.rule_title)] += 1
        by_level = [Series(name=w, points=sorted(c.items())) for w, c in levels.items()]
        top = [RuleCount(rule_id=r, rule_title=t, count=n) for (r, t), n in rules.most_common(10)]
    sources = None
    if services.collector is not None and services.collector.health is not None:
        sources = list_sources(who, services)
    return Overview(
        start=start,
        end=stop,
        bucket_seconds=bucket.total_seconds(),
        events_total=total,
        events_per_second=[Series(name=n, points=p) for n, p in sorted(per_source.items())],
        grades=grades,
        alerts_by_level=by_level,
        top_rules=top,
        sources=sources,
        ledger=ledger_status(services),
    )
