"""The trail export's report (`report.html`, `report.pdf`): the figures of `review.summarize` as a
document of the shared report renderer (`soc_api.reports`). Pure: a summary in, a `Document` out.

Sections: what was selected and what the bundle proves; accesses by grade over time (stacked bars per
day); top actors; violations by kind (named as the trace's alerts are); approvals, decisions and their
turnaround (request to grant, hours). Every chart's numbers are also in a table beside it, so the
report reads the same without the pictures. An empty part says so in words (a chart needs data).

Like the CSV, the report is derived from the bundle's entries and proves nothing by itself; it says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from detection.trace import TRACE_RULES
from soc_api.reports import (
    BarChart,
    Bilingual,
    Block,
    Document,
    Paragraph,
    Section,
    Series,
    StackedBarChart,
    Table,
)

#: Grades in the order they stack, with the console's colours (core red, important orange).
GRADE_SERIES: Final = (
    ("core", "核心 core", "#cf1322"),
    ("important", "重要 important", "#d46b08"),
    ("general", "一般 general", "#2f5597"),
    ("unknown", "未分级 unknown", "#8c8c8c"),
)
#: At most this many days, actors and grants in a chart (the tables hold the same cut).
MAX_DAYS: Final = 120
MAX_BARS: Final = 20


def _none() -> Paragraph:
    return Paragraph("无 / none")


def _violation_label(name: str) -> str:
    rule = TRACE_RULES.get(name)
    return f"{name} · {rule.title.split(' / ')[0]}" if rule else name


def _grades(summary: Mapping[str, Any]) -> tuple[Block, ...]:
    by_day: Mapping[str, Mapping[str, int]] = summary["accesses_by_grade_per_day"]
    if not by_day:
        return (_none(),)
    days = sorted(by_day)[-MAX_DAYS:]
    known = {grade for grade, _, _ in GRADE_SERIES}

    def count(day: str, grade: str) -> int:
        if grade != "unknown":
            return int(by_day[day].get(grade, 0))
        return sum(int(n) for g, n in by_day[day].items() if g not in known or g == "unknown")

    series = tuple(
        Series(label, tuple(count(d, grade) for d in days), color)
        for grade, label, color in GRADE_SERIES
        if any(count(d, grade) for d in days)
    )
    rows: tuple[tuple[str | int, ...], ...] = tuple(
        (day, *(int(s.values[i]) for s in series), sum(int(s.values[i]) for s in series))
        for i, day in enumerate(days)
    )
    return (
        StackedBarChart("按分级的访问（每日）/ accesses by grade per day", tuple(days), series),
        Table(("日期 day", *(s.name for s in series), "合计 total"), rows),
    )


def _actors(summary: Mapping[str, Any]) -> tuple[Block, ...]:
    top = [(str(a), int(n)) for a, n in summary["top_actors"]][:MAX_BARS]
    if not top:
        return (_none(),)
    return (
        BarChart(
            "访问最多的操作者 / top actors",
            tuple(a for a, _ in top),
            (Series("访问次数 accesses", tuple(n for _, n in top)),),
        ),
        Table(("操作者 actor", "访问次数 accesses"), tuple(top)),
    )


def _violations(summary: Mapping[str, Any]) -> tuple[Block, ...]:
    found = [(str(v), int(n)) for v, n in summary["violations"].items()][:MAX_BARS]
    if not found:
        return (Paragraph("所选范围内没有违规访问 / no violation in the selection"),)
    return (
        BarChart(
            "违规访问（按类型）/ violations by kind",
            tuple(v for v, _ in found),
            (Series("次数 count", tuple(n for _, n in found), "#cf1322"),),
        ),
        Table(("违规类型 violation", "次数 count"), tuple((_violation_label(v), n) for v, n in found)),
    )


def _approvals(summary: Mapping[str, Any]) -> tuple[Block, ...]:
    approvals: Mapping[str, Any] = summary["approvals"]
    decisions: Mapping[str, int] = approvals["decisions"]
    hours: Mapping[str, Any] = approvals["turnaround_hours"]
    each: Mapping[str, float] = hours.get("each", {})

    def fmt(value: Any) -> str:
        return "—" if value is None else f"{float(value):.2f}"

    blocks: list[Block] = [
        Table(
            ("项目 item", "数量或小时 count or hours"),
            (
                ("申请 requested", int(approvals["requested"])),
                ("已签发授权 granted", int(approvals["granted"])),
                ("批准意见 approve decisions", int(decisions.get("approved", 0))),
                ("驳回意见 reject decisions", int(decisions.get("rejected", 0))),
                ("审批用时中位数（小时）median turnaround (h)", fmt(hours.get("median"))),
                ("审批用时最长（小时）longest turnaround (h)", fmt(hours.get("max"))),
            ),
        )
    ]
    if decisions:
        blocks.insert(
            0,
            BarChart(
                "审批意见 / decisions",
                ("批准 approved", "驳回 rejected"),
                (Series("意见 decisions", (decisions.get("approved", 0), decisions.get("rejected", 0))),),
            ),
        )
    if each:
        slowest = sorted(each.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_BARS]
        blocks.append(
            BarChart(
                "审批用时（小时，最长的授权）/ turnaround in hours (slowest grants)",
                tuple(g for g, _ in slowest),
                (Series("小时 hours", tuple(h for _, h in slowest), "#d46b08"),),
            )
        )
    return tuple(blocks)


def trail_report(
    summary: Mapping[str, Any],
    *,
    selection: tuple[str, str],
    statement: tuple[str, str],
    exported_by: str,
    now: datetime,
) -> Document:
    """The report of a trail export: `summary` (`review.summarize`), the selection described in
    Chinese and English, the verifier's statement of what the bundle proves, who exported it."""
    about = Section(
        Bilingual("导出范围与证明", "Selection and proof"),
        (
            Table(
                ("项目 item", "内容 value"),
                (
                    ("选择 selection", f"{selection[0]} / {selection[1]}"),
                    ("记录数 entries", int(summary["entries"])),
                    ("导出人 exported by", exported_by),
                ),
            ),
            Paragraph(f"{statement[0]} / {statement[1]}"),
            Paragraph(
                "本报告与 CSV 由 bundle.zip 中的记录导出，本身不作证明；以 datasoc verify 校验导出包后，"
                "可由其中的记录重新导出核对。 / This report and the CSV are derived from the entries in "
                "bundle.zip and prove nothing by themselves; verify the bundle with `datasoc verify` and "
                "re-derive them to check."
            ),
        ),
    )
    return Document(
        title=Bilingual("数据访问审计导出报告", "Data access audit export report"),
        generated_at=now,
        subtitle=selection[0],
        footer="datasoc · 事后可追溯 post-hoc review",
        sections=(
            about,
            Section(Bilingual("按分级的访问", "Accesses by grade over time"), _grades(summary)),
            Section(Bilingual("访问最多的操作者", "Top actors"), _actors(summary)),
            Section(Bilingual("违规访问", "Violations"), _violations(summary)),
            Section(Bilingual("审批与用时", "Approvals and turnaround"), _approvals(summary)),
        ),
    )
