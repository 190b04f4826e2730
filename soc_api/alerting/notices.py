"""What a notification says (pure): the typed payload kept in the outbox, and its renderings for
each channel (text, HTML, markdown for robots, JSON, CEF), bursts as one digest.

The payload is fixed when the outbox row is written (in the alert change's transaction), so what
is sent is what was recorded; rendering happens at delivery time, from the payload alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from datasoc.event import parse_timestamp
from soc_api.alerting.cef import CefEvent
from soc_api.alerting.levels import EVENT_CLASSES, EVENT_GRADES, GRADE_NAMES, WARNING_NAMES

PAYLOAD_VERSION = 1
#: CEF severity (0-10) and syslog severity (RFC 5424) of each warning level.
CEF_SEVERITY = {"red": 10, "orange": 8, "yellow": 5, "blue": 3}
SYSLOG_SEVERITY = {"red": 2, "orange": 3, "yellow": 4, "blue": 5}
KIND_NAMES = {
    "alert": "预警 alert",
    "level_raised": "预警升级 level raised",
    "escalation": "超时升级 escalation",
    "bulletin": "通报 bulletin",
}
#: WeCom robots take at most 4,096 bytes of markdown content.
WECOM_LIMIT = 4096


def check_version(data: Mapping[str, Any]) -> None:
    """Refuse a stored payload of a version this code does not know (`ValueError`)."""
    if data.get("version") != PAYLOAD_VERSION:
        raise ValueError(f"notification payload version {data.get('version')!r} is not {PAYLOAD_VERSION}")


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """The alert as a notification tells it."""

    id: str
    rule_id: str
    rule_title: str
    level: str
    grade: str | None
    event_class: str
    count: int
    events: int
    first_seen: str
    last_seen: str
    group: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]
    status: str
    assignee: str | None
    url: str


@dataclass(frozen=True, slots=True)
class EscalationInfo:
    """Why an escalation was sent: which timer ran out, to whom the alert went."""

    stage: str
    step: int
    assignee: str | None
    previous: str | None
    overdue_seconds: int


@dataclass(frozen=True, slots=True)
class BulletinInfo:
    """A bulletin announced: its id, title, period and the lines of its summary."""

    id: str
    title: str
    kind: str
    period: str
    summary: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification's payload (versioned: `PAYLOAD_VERSION`)."""

    key: str
    kind: str
    channel: str
    created_at: str
    alert: AlertSummary | None = None
    escalation: EscalationInfo | None = None
    bulletin: BulletinInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored (and webhook) JSON form (written out by hand: it is on the intake's hot path)."""
        a, e, b = self.alert, self.escalation, self.bulletin
        return {
            "version": PAYLOAD_VERSION,
            "key": self.key,
            "kind": self.kind,
            "channel": self.channel,
            "created_at": self.created_at,
            "alert": None
            if a is None
            else {
                "id": a.id,
                "rule_id": a.rule_id,
                "rule_title": a.rule_title,
                "level": a.level,
                "grade": a.grade,
                "event_class": a.event_class,
                "count": a.count,
                "events": a.events,
                "first_seen": a.first_seen,
                "last_seen": a.last_seen,
                "group": [list(p) for p in a.group],
                "sources": list(a.sources),
                "status": a.status,
                "assignee": a.assignee,
                "url": a.url,
            },
            "escalation": None
            if e is None
            else {
                "stage": e.stage,
                "step": e.step,
                "assignee": e.assignee,
                "previous": e.previous,
                "overdue_seconds": e.overdue_seconds,
            },
            "bulletin": None
            if b is None
            else {
                "id": b.id,
                "title": b.title,
                "kind": b.kind,
                "period": b.period,
                "summary": list(b.summary),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notice:
        """From the stored form; refuses a payload version it does not know."""
        check_version(data)
        alert = data.get("alert")
        escalation = data.get("escalation")
        bulletin = data.get("bulletin")
        return cls(
            key=data["key"],
            kind=data["kind"],
            channel=data["channel"],
            created_at=data["created_at"],
            alert=None
            if alert is None
            else AlertSummary(
                **{
                    **alert,
                    "group": tuple((str(f), str(v)) for f, v in alert["group"]),
                    "sources": tuple(alert["sources"]),
                }
            ),
            escalation=None if escalation is None else EscalationInfo(**escalation),
            bulletin=None
            if bulletin is None
            else BulletinInfo(**{**bulletin, "summary": tuple(bulletin["summary"])}),
        )


def title(notice: Notice) -> str:
    """One line: `【红色预警】规则标题 ×12` (escalations and bulletins say so)."""
    if notice.bulletin is not None:
        return f"【通报】{notice.bulletin.title}"
    alert = notice.alert
    assert alert is not None
    level = WARNING_NAMES[alert.level].split()[0]
    head = {"alert": "预警", "level_raised": "预警升级", "escalation": "超时升级"}.get(notice.kind, "预警")
    count = f" ×{alert.count}" if alert.count > 1 else ""
    return f"【{level}{head}】{alert.rule_title}{count}"


def lines(notice: Notice) -> list[str]:
    """The body as plain lines, Chinese first with English alongside."""
    if notice.bulletin is not None:
        b = notice.bulletin
        return [f"通报 bulletin {b.id} ({b.kind}, {b.period})", *b.summary]
    alert = notice.alert
    assert alert is not None
    out = [
        f"预警级别 warning level: {WARNING_NAMES[alert.level]} — {EVENT_GRADES[alert.level]}",
        f"事件分类 event class: {EVENT_CLASSES.get(alert.event_class, alert.event_class)}",
        f"数据分级 data grade: {GRADE_NAMES.get(alert.grade or '', '未分级 ungraded')}",
        f"规则 rule: {alert.rule_title} ({alert.rule_id})",
        f"次数 count: {alert.count} ({alert.events} events) {alert.first_seen} — {alert.last_seen}",
    ]
    out.extend(f"{field}: {value}" for field, value in alert.group)
    if alert.sources:
        out.append("来源 sources: " + ", ".join(alert.sources))
    if notice.escalation is not None:
        e = notice.escalation
        out.append(
            f"超时 overdue: {e.stage} timer over by {e.overdue_seconds} s; "
            f"移交 handed from {e.previous or '-'} to {e.assignee or '-'}"
        )
    out.append(f"告警 alert: {alert.id}  {alert.url}")
    out.append(f"幂等键 idempotency key: {notice.key}")
    return out


def text(notice: Notice) -> str:
    """Plain text (e-mail's text part)."""
    return title(notice) + "\n\n" + "\n".join(lines(notice)) + "\n"


def html(notice: Notice) -> str:
    """A small HTML body (e-mail's HTML part); every value escaped."""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines(notice))
    return f"<html><body><h2>{escape(title(notice))}</h2><ul>{items}</ul></body></html>"


def markdown(notice: Notice) -> str:
    """Markdown for DingTalk and WeCom robots."""
    body = "\n".join(f"- {_md(line)}" for line in lines(notice))
    return f"### {_md(title(notice))}\n{body}\n"


def _md(value: str) -> str:
    # Robots render markdown: keep values from opening links, images or emphasis.
    return "".join("\\" + ch if ch in "[]()*_`#<>!" else ch for ch in value)


def digest_markdown(notices: Sequence[Notice], *, limit_bytes: int | None = None) -> str:
    """One markdown message for a burst: a line per notification (cut to `limit_bytes` of UTF-8,
    saying how many were left out; every key stays in the JSON `keys` the robot never shows)."""
    head = f"### 【汇总 digest】{len(notices)} 条通知 notifications\n"
    rows = [f"- {_md(title(n))} ({_md(n.alert.id if n.alert else n.key)})\n" for n in notices]
    body = head + "".join(rows)
    if limit_bytes is None or len(body.encode("utf-8")) <= limit_bytes:
        return body
    kept = head
    for i, row in enumerate(rows):
        tail = f"- …… 另有 {len(rows) - i} 条 and {len(rows) - i} more\n"
        if len((kept + row + tail).encode("utf-8")) > limit_bytes:
            return kept + tail
        kept += row
    return kept


def truncate_utf8(value: str, limit_bytes: int) -> str:
    """`value` cut to at most `limit_bytes` of UTF-8, never inside a character."""
    data = value.encode("utf-8")
    if len(data) <= limit_bytes:
        return value
    return data[: limit_bytes - len("…".encode())].decode("utf-8", errors="ignore") + "…"


def cef_event(notice: Notice) -> CefEvent:
    """The notification as a CEF record (alerts and escalations)."""
    alert = notice.alert
    assert alert is not None
    ext: list[tuple[str, str]] = [
        ("externalId", alert.id),
        ("rt", str(_ms(notice.created_at))),
        ("start", str(_ms(alert.first_seen))),
        ("end", str(_ms(alert.last_seen))),
        ("cnt", str(alert.count)),
        ("cat", EVENT_CLASSES.get(alert.event_class, alert.event_class)),
        ("cs1Label", "warningLevel"),
        ("cs1", alert.level),
        ("cs2Label", "dataGrade"),
        ("cs2", alert.grade or "none"),
        ("cs3Label", "idempotencyKey"),
        ("cs3", notice.key),
        ("cs4Label", "notificationKind"),
        ("cs4", notice.kind),
        ("cs5Label", "status"),
        ("cs5", alert.status),
    ]
    group = dict(alert.group)
    for field, key in (
        ("user.name", "suser"),
        ("source.ip", "src"),
        ("host.name", "dhost"),
        ("data.asset.id", "fname"),
    ):
        if field in group:
            ext.append((key, group[field]))
    ext.append(("msg", " / ".join(lines(notice)[:2])))
    return CefEvent(
        vendor="datasoc",
        product="datasoc",
        version="1",
        signature_id=alert.rule_id,
        name=alert.rule_title,
        severity=CEF_SEVERITY[alert.level],
        extension=tuple(ext),
    )


def _ms(when: str) -> int:
    return int(parse_timestamp(when).timestamp() * 1000)


def created(notice: Notice) -> datetime:
    """When the notification was recorded."""
    return parse_timestamp(notice.created_at)
