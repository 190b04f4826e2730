"""The trail export's report: built from the summary of real ledger entries, rendered to HTML and to a
PDF whose pages poppler's `pdftoppm` turns into images that must not be blank."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from audit.entry import LedgerEntry
from soc_api.governance.review import summarize
from soc_api.governance.trail_report import trail_report
from soc_api.reports import CJK_FONT_PATHS, BarChart, Paragraph, StackedBarChart, render_html, render_pdf

NOW = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)


def _entry(seq: int, ts: str, kind: str, actor: str, payload: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry.from_dict(
        {"seq": seq, "ts": ts, "kind": kind, "actor": actor, "subject": "ds-gaj-rkjc", "payload": payload}
    )


def entries() -> list[LedgerEntry]:
    """A month of accesses by three people over three grades, two violations, two approvals."""
    out = [
        _entry(
            0,
            "2026-03-01T09:00:00.000000Z",
            "approval.requested",
            "user:wangwei",
            {"approval.id": "A-1", "outcome": "success"},
        ),
        _entry(
            1,
            "2026-03-01T11:00:00.000000Z",
            "approval.approved",
            "user:gaj-owner",
            {"approval.id": "A-1", "outcome": "success"},
        ),
        _entry(2, "2026-03-01T13:30:00.000000Z", "grant.issued", "user:sec", {"approval.id": "A-1"}),
        _entry(
            3,
            "2026-03-02T09:00:00.000000Z",
            "approval.requested",
            "user:lina",
            {"approval.id": "A-2", "outcome": "success"},
        ),
        _entry(
            4,
            "2026-03-03T09:00:00.000000Z",
            "approval.rejected",
            "user:sec",
            {"approval.id": "A-2", "outcome": "success"},
        ),
    ]
    people = ("wangwei", "wangwei", "lina", "zhaolei")
    grades = ("core", "important", "general")
    for i in range(60):
        day = 2 + i % 20
        violations = ["over_cap"] if i in (41, 57) else []
        out.append(
            _entry(
                5 + i,
                f"2026-03-{day:02d}T02:{i % 60:02d}:00.000000Z",
                "access",
                people[i % 4],
                {
                    "@timestamp": f"2026-03-{day:02d}T02:{i % 60:02d}:00Z",
                    "data.classification": grades[i % 3],
                    "trace.verdict": "violation" if violations else "allowed",
                    "trace.violations": violations,
                },
            )
        )
    return out


def test_the_report_charts_the_summary() -> None:
    summary = summarize(entries())
    assert summary["approvals"]["turnaround_hours"]["each"] == {"A-1": 4.5}
    document = trail_report(
        summary,
        selection=("主体 ds-gaj-rkjc", "subject ds-gaj-rkjc"),
        statement=("完整", "complete"),
        exported_by="user:auditor",
        now=NOW,
    )
    blocks = {s.heading.en: s.blocks for s in document.sections}
    grades = next(b for b in blocks["Accesses by grade over time"] if isinstance(b, StackedBarChart))
    assert len(grades.categories) == 20
    assert {s.name for s in grades.series} == {"核心 core", "重要 important", "一般 general"}
    assert sum(sum(s.values) for s in grades.series) == 60
    actors = next(b for b in blocks["Top actors"] if isinstance(b, BarChart))
    assert actors.categories[0] == "wangwei"
    assert actors.series[0].values[0] == 30
    violations = next(b for b in blocks["Violations"] if isinstance(b, BarChart))
    assert (violations.categories, violations.series[0].values) == (("over_cap",), (2.0,))
    assert any(isinstance(b, BarChart) for b in blocks["Approvals and turnaround"])
    html = render_html(document)
    assert html.count("<svg") >= 5
    assert "超出授权记录数上限" in html  # violations are named as the trace's alerts are


def test_an_empty_selection_says_so_in_words() -> None:
    document = trail_report(
        summarize([]),
        selection=("操作者 x", "actor x"),
        statement=("完整", "complete"),
        exported_by="a",
        now=NOW,
    )
    for section in document.sections[1:]:
        assert not any(isinstance(b, BarChart | StackedBarChart) for b in section.blocks)
        assert any(isinstance(b, Paragraph) for b in section.blocks) or section.heading.en.startswith(
            "Approvals"
        )
    assert render_pdf(document).pages >= 1


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed (.ci/run installs it)"
)
@pytest.mark.skipif(
    not any(p.is_file() for p in CJK_FONT_PATHS),
    reason="no CJK TrueType font (apt-get install fonts-wqy-microhei)",
)
def test_pdf_pages_render_and_none_is_blank(tmp_path: Path) -> None:
    document = trail_report(
        summarize(entries()),
        selection=("主体 ds-gaj-rkjc", "subject ds-gaj-rkjc"),
        statement=("所选记录完整", "the selection is complete"),
        exported_by="user:auditor",
        now=NOW,
    )
    rendered = render_pdf(document)
    assert rendered.embedded
    source = tmp_path / "report.pdf"
    source.write_bytes(rendered.data)
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", str(source), str(tmp_path / "page")], check=True)
    images = [Image.open(p).convert("L") for p in sorted(tmp_path.glob("page-*.png"))]
    assert len(images) == rendered.pages >= 2
    for image in images:
        dark = sum(image.histogram()[:200])
        assert dark > 500, "a blank page"
