"""A sample document with every block kind (shared by the report tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
)

LEVELS = (("红 red", "#c00000"), ("橙 orange", "#ed7d31"), ("黄 yellow", "#e6b800"), ("蓝 blue", "#2f5597"))


def sample_document(title_zh: str = "数据安全预警日报", rows: int = 5) -> Document:
    days = tuple(f"03-{d:02d}" for d in range(1, 8))
    levels = tuple(
        Series(name, tuple(float((i * 3 + d) % 7) for d in range(7)), color)
        for i, (name, color) in enumerate(LEVELS)
    )
    return Document(
        title=Bilingual(title_zh, "Daily alert bulletin"),
        generated_at=datetime(2026, 3, 8, 8, 0, tzinfo=UTC),
        subtitle="明州市大数据中心 2026-03-07",
        footer="datasoc · 测试",
        sections=(
            Section(
                Bilingual("概要", "Summary"),
                (
                    Paragraph("本期共产生预警 42 条，其中红色 3 条。<script>alert(1)</script> & more"),
                    BarChart("按级别 / by level", days, levels),
                    StackedBarChart("按级别堆叠 / stacked", days, levels),
                    LineChart("趋势 / trend", days, levels[:2]),
                ),
            ),
            Section(
                Bilingual("分级热力图", "Grade heat map"),
                (
                    HeatMap(
                        "数据分级 × 预警级别",
                        ("核心 core", "重要 important", "一般 general"),
                        tuple(name for name, _ in LEVELS),
                        ((5, 2, 0, 0), (1, 4, 3, 0), (0, 1, 2, 9)),
                    ),
                    Table(
                        ("规则 rule", "次数 count", "用户 user"),
                        tuple((f"规则 {i} 核心数据批量导出", i * 10, f"user{i}") for i in range(rows)),
                        caption="前 N 规则 / top rules",
                    ),
                ),
            ),
        ),
    )


@pytest.fixture
def document() -> Document:
    return sample_document()
