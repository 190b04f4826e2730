"""The case report (pure): a case's detail as a `soc_api.reports.Document`."""

from __future__ import annotations

from datetime import datetime

from soc_api.alerting.case_records import CaseDetail
from soc_api.alerting.levels import WARNING_NAMES
from soc_api.alerting.lifecycle import STATUS_NAMES
from soc_api.alerting.records import dumps, ts
from soc_api.reports import Bilingual, Document, Paragraph, Section, Table


def case_report(d: CaseDetail, *, now: datetime) -> Document:
    """The case report (a `soc_api.reports.Document`; render with `render_html`/`render_pdf`)."""
    c = d.case
    alerts = Table(
        ("告警 alert", "级别 level", "规则 rule", "次数 count", "状态 status", "首次 first seen"),
        tuple(
            (
                a.id,
                WARNING_NAMES[a.warning_level],
                a.rule_title,
                a.count,
                STATUS_NAMES[a.status],
                ts(a.first_seen),
            )
            for a in d.alerts
        ),
    )
    tasks = Table(
        ("任务 task", "负责人 owner", "期限 due", "完成 done"),
        tuple(
            (
                t.title,
                t.owner or "-",
                ts(t.due_at) if t.due_at else "-",
                ts(t.done_at) if t.done_at else "-",
            )
            for t in d.tasks
        ),
    )
    sightings = Table(
        ("类型 kind", "值 value", "其他告警 other alerts"),
        tuple(
            (
                s.kind,
                s.value,
                ", ".join(s.other_alerts[:5]) + (" …" if len(s.other_alerts) > 5 else "") or "-",
            )
            for s in d.observables
        ),
    )
    timeline = Table(
        ("时间 time", "操作者 actor", "操作 action", "说明 detail"),
        tuple((ts(e.at), e.actor, e.action, dumps(e.detail)[:300]) for e in d.timeline),
    )
    attachments = Table(
        ("附件 attachment", "大小 size", "摘要 digest"),
        tuple((a.name, a.size, a.digest) for a in d.attachments),
    )
    return Document(
        title=Bilingual(f"案件报告：{c.title}", f"Case report: {c.id}"),
        generated_at=now,
        subtitle=f"{c.id} · {WARNING_NAMES[c.warning_level]} · {c.status} · owner {c.owner or '-'}",
        sections=(
            Section(Bilingual("概况", "Summary"), (Paragraph(c.description or "（无说明 no description）"),)),
            Section(Bilingual("告警", "Alerts"), (alerts,)),
            Section(Bilingual("任务", "Tasks"), (tasks,)),
            Section(Bilingual("关联对象及其他出现", "Observables and other sightings"), (sightings,)),
            Section(Bilingual("附件", "Attachments"), (attachments,)),
            Section(Bilingual("时间线", "Timeline"), (timeline,)),
        ),
    )
