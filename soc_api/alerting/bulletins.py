"""Bulletins (通报): daily and weekly reports in HTML and PDF, on a schedule and on demand.

`gather` reads a period's figures from the store (alerts by level over time and by rule, top
sources and actors, the grade × level heat map, SLA compliance, open cases); `document` (pure)
turns them into a `soc_api.reports.Document`; `make` renders both files, ledgers the generation
(`alert.bulletin_generated` with the SM3 digests of both files) before it stores them, and routes
the bulletin to the channels of `bulletin` routes through the outbox. Scheduled periods are local
days (and Monday-to-Monday weeks) of `[alerting] timezone`, each made once (unique per kind and
period), after `daily_at`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from audit.entry import EntryDraft
from crypto.recipes import sm3_hex
from datasoc.logging import get_logger
from datasoc.settings_alerting import BulletinSettings
from soc_api.alerting import store
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.intake import Recorder
from soc_api.alerting.levels import (
    EVENT_CLASSES,
    GRADE_NAMES,
    GRADES,
    WARNING_COLORS,
    WARNING_LEVELS,
    WARNING_NAMES,
)
from soc_api.alerting.notices import BulletinInfo
from soc_api.alerting.outbox import enqueue_bulletin
from soc_api.alerting.records import AlertRecord, ts
from soc_api.reports import (
    BarChart,
    Bilingual,
    Document,
    HeatMap,
    LineChart,
    Paragraph,
    Section,
    Series,
    StackedBarChart,
    Table,
    render_html,
    render_pdf,
)
from soc_api.supervisor import StepReport

log = get_logger("bulletins")
_LEVELS_HIGH_FIRST = tuple(reversed(WARNING_LEVELS))


@dataclass(frozen=True)
class Period:
    """A bulletin's period `[start, end)` and its kind (daily, weekly, adhoc)."""

    kind: str
    start: datetime
    end: datetime

    def label(self, config: AlertingConfig) -> str:
        """`2026-03-02` or `2026-03-02 — 2026-03-08` in local time."""
        first = config.local(self.start).date()
        last = config.local(self.end - timedelta(microseconds=1)).date()
        return first.isoformat() if first == last else f"{first.isoformat()} — {last.isoformat()}"


@dataclass(frozen=True)
class Figures:
    """What a bulletin shows (see module docstring)."""

    period: Period
    buckets: tuple[str, ...]
    by_level: dict[str, tuple[int, ...]]
    by_rule: tuple[tuple[str, int, int], ...]
    by_class: tuple[tuple[str, int], ...]
    sources: tuple[tuple[str, int], ...]
    actors: tuple[tuple[str, int], ...]
    heat: tuple[tuple[int, ...], ...]
    sla: tuple[tuple[str, int, int, int, int], ...]
    open_alerts: int
    open_cases: tuple[tuple[str, str, str, int], ...]
    total: int
    rolled_up: int


def gather(conn: sqlite3.Connection, config: AlertingConfig, period: Period) -> Figures:
    """The figures of `period` (alerts raised in it, suppressed ones apart)."""
    rows = conn.execute(
        "SELECT * FROM alerts WHERE raised_at >= ? AND raised_at < ? AND suppressed_by IS NULL",
        (ts(period.start), ts(period.end)),
    ).fetchall()
    alerts = [AlertRecord.from_row(r) for r in rows]
    hourly = period.end - period.start <= timedelta(days=1)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    count = max(1, int((period.end - period.start) / step))
    buckets = tuple(
        config.local(period.start + step * i).strftime("%H:00" if hourly else "%m-%d") for i in range(count)
    )
    by_level = {level: [0] * count for level in _LEVELS_HIGH_FIRST}
    for alert in alerts:
        index = min(int((alert.raised_at - period.start) / step), count - 1)
        by_level[alert.warning_level][index] += 1
    rules = Counter((a.rule_title, a.warning_level) for a in alerts)
    detections: Counter[tuple[str, str]] = Counter()
    for a in alerts:
        detections[(a.rule_title, a.warning_level)] += a.count
    by_rule = tuple(
        (f"{WARNING_NAMES[level].split()[0]} {title}", n, detections[(title, level)])
        for (title, level), n in rules.most_common(10)
    )
    sources = Counter(s for a in alerts for s in a.sources)
    ids = [a.id for a in alerts]
    actors = Counter(value for kind, value in _observables(conn, ids) if kind == "user")
    heat = tuple(
        tuple(
            sum(1 for a in alerts if (a.grade or "general") == grade and a.warning_level == level)
            for level in _LEVELS_HIGH_FIRST
        )
        for grade in reversed(GRADES)
    )
    sla = []
    for level in _LEVELS_HIGH_FIRST:
        policy = config.sla.of(level)
        mine = [a for a in alerts if a.warning_level == level]
        responded = sum(
            1 for a in mine if a.responded_at is not None and a.responded_at - a.raised_at <= policy.respond
        )
        resolved = sum(
            1 for a in mine if a.closed_at is not None and a.closed_at - a.raised_at <= policy.resolve
        )
        breached = sum(1 for a in mine if a.sla_breaches > 0)
        sla.append((level, len(mine), responded, resolved, breached))
    open_alerts = conn.execute(
        "SELECT count(*) FROM alerts WHERE status != 'closed' AND suppressed_by IS NULL"
    ).fetchone()[0]
    cases = conn.execute(
        "SELECT c.id, c.title, c.warning_level, (SELECT count(*) FROM alerts a WHERE a.case_id = c.id) "
        "FROM cases c WHERE c.status = 'open' ORDER BY c.created_at DESC LIMIT 20"
    ).fetchall()
    return Figures(
        period=period,
        buckets=buckets,
        by_level={k: tuple(v) for k, v in by_level.items()},
        by_rule=by_rule,
        by_class=tuple(Counter(a.event_class for a in alerts).most_common()),
        sources=tuple(sources.most_common(10)),
        actors=tuple(actors.most_common(10)),
        heat=heat,
        sla=tuple(sla),
        open_alerts=int(open_alerts),
        open_cases=tuple((r[0], r[1], r[2], int(r[3])) for r in cases),
        total=len(alerts),
        rolled_up=sum(a.count for a in alerts),
    )


def _observables(conn: sqlite3.Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.extend(
            (r[0], r[1])
            for r in conn.execute(
                f"SELECT kind, value FROM alert_observables WHERE alert_id IN ({marks})",  # noqa: S608
                chunk,
            )
        )
    return found


_TITLES = {
    "daily": Bilingual("数据安全预警日报", "Daily data security alert bulletin"),
    "weekly": Bilingual("数据安全预警周报", "Weekly data security alert bulletin"),
    "adhoc": Bilingual("数据安全预警通报", "Data security alert bulletin"),
}


def document(figures: Figures, config: AlertingConfig, *, generated_at: datetime) -> Document:
    """The bulletin as a report document (pure)."""
    f = figures
    levels = f.by_level
    level_series = tuple(
        Series(WARNING_NAMES[k], tuple(float(v) for v in levels[k]), WARNING_COLORS[k])
        for k in _LEVELS_HIGH_FIRST
    )
    totals = {k: sum(levels[k]) for k in _LEVELS_HIGH_FIRST}
    summary = (
        f"本期新增预警 {f.total} 条（汇聚检测告警 {f.rolled_up} 条）："
        f"红色 {totals['red']}、橙色 {totals['orange']}、黄色 {totals['yellow']}、蓝色 {totals['blue']}；"
        f"当前未闭环预警 {f.open_alerts} 条，进行中案件 {len(f.open_cases)} 个。"
    )
    english = (
        f"{f.total} new alerts this period ({f.rolled_up} detection alerts rolled up): "
        f"red {totals['red']}, orange {totals['orange']}, yellow {totals['yellow']}, blue {totals['blue']}; "
        f"{f.open_alerts} alerts "
        f"not yet closed, {len(f.open_cases)} open cases."
    )
    sections = [
        Section(
            Bilingual("概况", "Summary"),
            (
                Paragraph(summary),
                Paragraph(english),
                StackedBarChart("按级别的预警数 / alerts by level over time", f.buckets, level_series),
                LineChart("预警趋势 / trend", f.buckets, level_series),
            ),
        ),
        Section(
            Bilingual("规则与事件分类", "Rules and event classes (GB/T 20986-2023)"),
            (
                BarChart(
                    "前十规则 / top rules",
                    tuple(r[0][:24] for r in f.by_rule) or ("-",),
                    (Series("预警 alerts", tuple(float(r[1]) for r in f.by_rule) or (0.0,)),),
                ),
                Table(
                    ("规则 rule", "预警 alerts", "检测告警 detections"),
                    tuple((r[0], r[1], r[2]) for r in f.by_rule),
                ),
                Table(
                    ("事件分类 event class", "预警 alerts"),
                    tuple((EVENT_CLASSES.get(c, c), n) for c, n in f.by_class),
                ),
            ),
        ),
        Section(
            Bilingual("来源与行为人", "Top sources and actors"),
            (
                Table(("来源 source", "预警 alerts"), tuple(f.sources)),
                Table(("行为人 actor", "预警 alerts"), tuple(f.actors)),
            ),
        ),
        Section(
            Bilingual("数据分级热力图", "Grade heat map"),
            (
                HeatMap(
                    "数据分级 × 预警级别 / grade × warning level",
                    tuple(GRADE_NAMES[g] for g in reversed(GRADES)),
                    tuple(WARNING_NAMES[k] for k in _LEVELS_HIGH_FIRST),
                    tuple(tuple(float(v) for v in row) for row in f.heat),
                ),
            ),
        ),
        Section(
            Bilingual("时限达成", "SLA compliance"),
            (
                Table(
                    (
                        "级别 level",
                        "预警 alerts",
                        "按时响应 responded in time",
                        "按时闭环 closed in time",
                        "超时升级 escalated",
                    ),
                    tuple((WARNING_NAMES[level], n, a, b, c) for level, n, a, b, c in f.sla),
                ),
            ),
        ),
        Section(
            Bilingual("进行中案件", "Open cases"),
            (
                Table(
                    ("案件 case", "标题 title", "级别 level", "预警 alerts"),
                    tuple((c[0], c[1], WARNING_NAMES[c[2]], c[3]) for c in f.open_cases),
                ),
            )
            if f.open_cases
            else (Paragraph("无 / none"),),
        ),
    ]
    return Document(
        title=_TITLES[f.period.kind],
        generated_at=generated_at,
        subtitle=f"{config.organisation} · {f.period.label(config)}",
        footer=f"datasoc · {config.organisation}",
        sections=tuple(sections),
    )


@dataclass(frozen=True)
class Bulletin:
    """A made bulletin: id, period, title, digests, pages."""

    id: str
    period: Period
    title: str
    html_digest: str
    pdf_digest: str
    pages: int
    generated_at: datetime
    generated_by: str


def make(
    state: Any,
    config: AlertingConfig,
    period: Period,
    *,
    now: datetime,
    actor: str,
    record: Callable[[EntryDraft], object],
    bulletin_id: str,
) -> Bulletin:
    """Render, ledger (through `record`, before storing), store and route one bulletin."""
    with state.read() as conn:
        figures = gather(conn, config, period)
    doc = document(figures, config, generated_at=now)
    html = render_html(doc).encode("utf-8")
    pdf = render_pdf(doc)
    made = Bulletin(
        bulletin_id, period, doc.title.joined(), sm3_hex(html), sm3_hex(pdf.data), pdf.pages, now, actor
    )
    record(
        EntryDraft.create(
            now=now,
            kind="alert.bulletin_generated",
            actor=actor,
            subject=f"bulletin:{bulletin_id}",
            payload={
                "kind": period.kind,
                "period_start": ts(period.start),
                "period_end": ts(period.end),
                "html": made.html_digest,
                "pdf": made.pdf_digest,
                "pages": pdf.pages,
                "font_embedded": pdf.embedded,
                "alerts": figures.total,
            },
        )
    )
    info = BulletinInfo(
        bulletin_id,
        made.title,
        period.kind,
        period.label(config),
        tuple(p.text for p in doc.sections[0].blocks[:2] if isinstance(p, Paragraph)),
    )
    with state.write() as conn:
        conn.execute(
            "INSERT INTO bulletins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bulletin_id,
                period.kind,
                ts(period.start),
                ts(period.end),
                ts(now),
                actor,
                made.title,
                made.html_digest,
                made.pdf_digest,
                pdf.pages,
                html,
                pdf.data,
            ),
        )
        routes = [*config.routes, *store.stored_routes(conn)]
        enqueue_bulletin(conn, config, routes, info, now=now)
    log.info("bulletin_made", id=bulletin_id, kind=period.kind, pages=pdf.pages, alerts=figures.total)
    return made


def due_periods(now: datetime, config: AlertingConfig, schedule: BulletinSettings) -> list[Period]:
    """Scheduled periods that should exist at `now` (the latest of each kind), pure."""
    local = config.local(now)
    hour, minute = (int(x) for x in schedule.daily_at.split(":"))
    release = time(hour, minute)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    if schedule.daily and local.time() >= release:
        out.append(Period("daily", today - timedelta(days=1), today))
    if schedule.weekly:
        monday = today - timedelta(days=today.weekday())
        release_day = monday + timedelta(days=schedule.weekly_on - 1)
        if local >= release_day.replace(hour=hour, minute=minute):
            out.append(Period("weekly", monday - timedelta(days=7), monday))
    return [Period(p.kind, p.start.astimezone(now.tzinfo), p.end.astimezone(now.tzinfo)) for p in out]


def bulletin_id(period: Period) -> str:
    """A scheduled bulletin's id: kind and local start (one per period)."""
    return f"blt-{period.kind}-{period.start.strftime('%Y%m%dT%H%M')}"


class BulletinStep:
    """Makes each scheduled bulletin once, after its release time (one per round)."""

    name = "bulletins"
    interval = 30.0
    lag_bound: int | None = 3

    def __init__(
        self,
        platform: Any,
        config: AlertingConfig,
        recorder: Recorder,
        *,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.state = platform.state
        self.schedule = platform.settings.alerting.bulletins
        self.config = config
        self.recorder = recorder
        self.on_change = on_change

    def missing(self, now: datetime) -> list[Period]:
        """Due periods without their bulletin."""
        due = due_periods(now, self.config, self.schedule)
        with self.state.read() as conn:
            return [
                p
                for p in due
                if conn.execute(
                    "SELECT 1 FROM bulletins WHERE kind = ? AND period_start = ?", (p.kind, ts(p.start))
                ).fetchone()
                is None
            ]

    def run(self, now: datetime) -> StepReport:
        missing = self.missing(now)
        if not missing:
            return StepReport(lag=0)
        period = missing[0]
        make(
            self.state,
            self.config,
            period,
            now=now,
            actor="system:bulletins",
            record=lambda draft: self.recorder.record_many([draft]),
            bulletin_id=bulletin_id(period),
        )
        if self.on_change is not None:
            self.on_change()
        return StepReport(work=1, more=len(missing) > 1, lag=len(missing) - 1)


@dataclass(frozen=True)
class BulletinRow:
    """A stored bulletin's description (its files are fetched on their own)."""

    id: str
    kind: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    generated_by: str
    title: str
    html_digest: str
    pdf_digest: str
    pages: int


def listed(state: Any, *, limit: int = 50, before: tuple[str, str] | None = None) -> list[BulletinRow]:
    """Bulletins newest first."""
    from soc_api.alerting.records import need_ts

    where, args = "", []
    if before is not None:
        where = "WHERE generated_at < ? OR (generated_at = ? AND id < ?)"
        args = [before[0], before[0], before[1]]
    with state.read() as conn:
        rows = conn.execute(
            "SELECT id, kind, period_start, period_end, generated_at, generated_by, title, html_digest, "  # noqa: S608
            f"pdf_digest, pages FROM bulletins {where} ORDER BY generated_at DESC, id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
    return [
        BulletinRow(
            r["id"],
            r["kind"],
            need_ts(r["period_start"]),
            need_ts(r["period_end"]),
            need_ts(r["generated_at"]),
            r["generated_by"],
            r["title"],
            r["html_digest"],
            r["pdf_digest"],
            r["pages"],
        )
        for r in rows
    ]


def file_of(state: Any, bulletin_id: str, kind: str) -> bytes | None:
    """A bulletin's `html` or `pdf` bytes (None when there is no such bulletin)."""
    column = {"html": "html", "pdf": "pdf"}[kind]
    with state.read() as conn:
        row = conn.execute(f"SELECT {column} FROM bulletins WHERE id = ?", (bulletin_id,)).fetchone()  # noqa: S608
    return None if row is None else bytes(row[0])
