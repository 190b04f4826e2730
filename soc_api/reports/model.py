"""The report document model: what a report says, independent of HTML or PDF.

A `Document` has a bilingual title, a generation time and `Section`s; a section holds blocks in
order: `Paragraph`, `Table`, and charts (`BarChart`, `LineChart`, `StackedBarChart`, `HeatMap`).
Every type is frozen and checks itself when built (lengths agree, numbers are finite and not
negative), so a renderer never meets a malformed document. `Document.from_dict` / `to_dict`
give the JSON form (for tests, storage and other callers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from soc_api.reports.errors import ReportModelError

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_MAX_TEXT = 20_000
_MAX_ROWS = 5_000
_MAX_POINTS = 2_000


def _text(value: Any, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ReportModelError(where, f"text expected, got {type(value).__name__}")
    if not empty and not value.strip():
        raise ReportModelError(where, "must not be empty")
    if len(value) > _MAX_TEXT:
        raise ReportModelError(where, f"longer than {_MAX_TEXT} characters")
    return value


def _numbers(values: Sequence[Any], where: str) -> tuple[float, ...]:
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ReportModelError(f"{where}[{i}]", "a finite number expected")
        if value < 0:
            raise ReportModelError(f"{where}[{i}]", "charts show counts and rates: no negative values")
        out.append(float(value))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Bilingual:
    """A text in Chinese first, with its English alongside (English may be empty)."""

    zh: str
    en: str = ""

    def __post_init__(self) -> None:
        _text(self.zh, "zh")
        _text(self.en, "en", empty=True)

    def joined(self, sep: str = " / ") -> str:
        """`中文 / English` (or the Chinese alone)."""
        return f"{self.zh}{sep}{self.en}" if self.en else self.zh

    @classmethod
    def of(cls, value: Any, where: str) -> Bilingual:
        """From `{"zh", "en"}` or a plain string."""
        if isinstance(value, str):
            return cls(_text(value, where))
        if isinstance(value, Mapping):
            return cls(
                _text(value.get("zh"), f"{where}.zh"), _text(value.get("en", ""), f"{where}.en", empty=True)
            )
        raise ReportModelError(where, "text or {zh, en} expected")


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph of plain text (never markup: renderers escape it)."""

    text: str

    def __post_init__(self) -> None:
        _text(self.text, "paragraph")


@dataclass(frozen=True, slots=True)
class Table:
    """A table: column headings and rows of cells (text or numbers), with an optional caption."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str | int | float, ...], ...]
    caption: str = ""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ReportModelError("table.columns", "at least one column")
        for i, name in enumerate(self.columns):
            _text(name, f"table.columns[{i}]")
        if len(self.rows) > _MAX_ROWS:
            raise ReportModelError("table.rows", f"more than {_MAX_ROWS} rows")
        for r, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ReportModelError(
                    f"table.rows[{r}]", f"{len(row)} cells for {len(self.columns)} columns"
                )
            for c, cell in enumerate(row):
                if isinstance(cell, bool) or not isinstance(cell, str | int | float):
                    raise ReportModelError(f"table.rows[{r}][{c}]", "text or number expected")
        _text(self.caption, "table.caption", empty=True)


@dataclass(frozen=True, slots=True)
class Series:
    """One named series of values, one per category (or point) of its chart."""

    name: str
    values: tuple[float, ...]
    #: `#rrggbb`, or empty for the palette's next colour (warning levels bring their own).
    color: str = ""

    def __post_init__(self) -> None:
        _text(self.name, "series.name")
        object.__setattr__(self, "values", _numbers(self.values, f"series[{self.name}].values"))
        if self.color and not _COLOR.fullmatch(self.color):
            raise ReportModelError(f"series[{self.name}].color", "#rrggbb expected")


def _check_series(kind: str, categories: tuple[str, ...], series: tuple[Series, ...]) -> None:
    if not categories:
        raise ReportModelError(f"{kind}.categories", "at least one category")
    if len(categories) > _MAX_POINTS:
        raise ReportModelError(f"{kind}.categories", f"more than {_MAX_POINTS}")
    for i, name in enumerate(categories):
        _text(name, f"{kind}.categories[{i}]", empty=True)
    if not series:
        raise ReportModelError(f"{kind}.series", "at least one series")
    if len(series) > 12:
        raise ReportModelError(f"{kind}.series", "at most 12 series (a legend beyond that is unreadable)")
    for s in series:
        if len(s.values) != len(categories):
            raise ReportModelError(
                f"{kind}.series[{s.name}]", f"{len(s.values)} values for {len(categories)} categories"
            )


@dataclass(frozen=True, slots=True)
class BarChart:
    """Grouped vertical bars: per category one bar per series."""

    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]

    def __post_init__(self) -> None:
        _text(self.title, "bar.title")
        _check_series("bar", self.categories, self.series)


@dataclass(frozen=True, slots=True)
class StackedBarChart:
    """Stacked vertical bars: per category the series stacked on one another."""

    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]

    def __post_init__(self) -> None:
        _text(self.title, "stacked.title")
        _check_series("stacked", self.categories, self.series)


@dataclass(frozen=True, slots=True)
class LineChart:
    """Lines over ordered categories (times): one line per series."""

    title: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]

    def __post_init__(self) -> None:
        _text(self.title, "line.title")
        _check_series("line", self.categories, self.series)


@dataclass(frozen=True, slots=True)
class HeatMap:
    """A grid of values: `values[row][column]`, rows labelled `rows`, columns `columns`."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        _text(self.title, "heatmap.title")
        if not self.rows or not self.columns:
            raise ReportModelError("heatmap", "at least one row and one column")
        if len(self.rows) > 100 or len(self.columns) > 100:
            raise ReportModelError("heatmap", "at most 100 rows and 100 columns")
        if len(self.values) != len(self.rows):
            raise ReportModelError(
                "heatmap.values", f"{len(self.values)} rows of values for {len(self.rows)} rows"
            )
        checked = []
        for r, row in enumerate(self.values):
            if len(row) != len(self.columns):
                raise ReportModelError(
                    f"heatmap.values[{r}]", f"{len(row)} values for {len(self.columns)} columns"
                )
            checked.append(_numbers(row, f"heatmap.values[{r}]"))
        object.__setattr__(self, "values", tuple(checked))


Chart = BarChart | StackedBarChart | LineChart | HeatMap
Block = Paragraph | Table | Chart


@dataclass(frozen=True, slots=True)
class Section:
    """A headed part of a document: blocks in reading order."""

    heading: Bilingual
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    """A report: bilingual title, optional subtitle, when it was generated, its sections."""

    title: Bilingual
    generated_at: datetime
    sections: tuple[Section, ...] = ()
    subtitle: str = ""
    #: Shown in the footer of every page (e.g. "datasoc · 明州市大数据中心").
    footer: str = ""

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None:
            raise ReportModelError("generated_at", "an aware time expected")
        _text(self.subtitle, "subtitle", empty=True)
        _text(self.footer, "footer", empty=True)

    # -- JSON form --------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        """Validate the JSON form (`to_dict`'s output); `ReportModelError` names what is wrong where."""
        try:
            generated = datetime.fromisoformat(str(data["generated_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise ReportModelError("generated_at", "an RFC 3339 time expected") from None
        sections = []
        for i, raw in enumerate(_list(data.get("sections", []), "sections")):
            where = f"sections[{i}]"
            if not isinstance(raw, Mapping):
                raise ReportModelError(where, "an object expected")
            blocks = tuple(
                _block(b, f"{where}.blocks[{j}]")
                for j, b in enumerate(_list(raw.get("blocks", []), f"{where}.blocks"))
            )
            sections.append(Section(Bilingual.of(raw.get("heading"), f"{where}.heading"), blocks))
        return cls(
            title=Bilingual.of(data.get("title"), "title"),
            generated_at=generated,
            sections=tuple(sections),
            subtitle=str(data.get("subtitle", "")),
            footer=str(data.get("footer", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (times in UTC, RFC 3339)."""
        return {
            "title": {"zh": self.title.zh, "en": self.title.en},
            "generated_at": self.generated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "subtitle": self.subtitle,
            "footer": self.footer,
            "sections": [
                {
                    "heading": {"zh": s.heading.zh, "en": s.heading.en},
                    "blocks": [_block_dict(b) for b in s.blocks],
                }
                for s in self.sections
            ],
        }


#: The JSON `type` of each block (an explicit registry).
_KINDS: Mapping[str, type] = {
    "paragraph": Paragraph,
    "table": Table,
    "bar": BarChart,
    "stacked": StackedBarChart,
    "line": LineChart,
    "heatmap": HeatMap,
}
_KIND_OF = {v: k for k, v in _KINDS.items()}


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ReportModelError(where, "a list expected")
    return list(value)


def _series(raw: Any, where: str) -> tuple[Series, ...]:
    out = []
    for i, s in enumerate(_list(raw, where)):
        if not isinstance(s, Mapping):
            raise ReportModelError(f"{where}[{i}]", "an object expected")
        values = tuple(_list(s.get("values"), f"{where}[{i}].values"))
        out.append(Series(str(s.get("name", "")), values, str(s.get("color", ""))))
    return tuple(out)


def _block(raw: Any, where: str) -> Block:
    if not isinstance(raw, Mapping) or raw.get("type") not in _KINDS:
        raise ReportModelError(where, f"an object with type in {sorted(_KINDS)} expected")
    kind = raw["type"]
    if kind == "paragraph":
        return Paragraph(_text(raw.get("text"), f"{where}.text"))
    if kind == "table":
        rows = tuple(tuple(_list(r, f"{where}.rows")) for r in _list(raw.get("rows", []), f"{where}.rows"))
        columns = tuple(str(c) for c in _list(raw.get("columns"), f"{where}.columns"))
        return Table(columns, rows, str(raw.get("caption", "")))
    if kind == "heatmap":
        values = tuple(
            tuple(_list(r, f"{where}.values")) for r in _list(raw.get("values"), f"{where}.values")
        )
        return HeatMap(
            _text(raw.get("title"), f"{where}.title"),
            tuple(str(r) for r in _list(raw.get("rows"), f"{where}.rows")),
            tuple(str(c) for c in _list(raw.get("columns"), f"{where}.columns")),
            values,  # numbers checked by HeatMap
        )
    chart: type[BarChart | StackedBarChart | LineChart] = _KINDS[kind]
    return chart(
        _text(raw.get("title"), f"{where}.title"),
        tuple(str(c) for c in _list(raw.get("categories"), f"{where}.categories")),
        _series(raw.get("series"), f"{where}.series"),
    )


def _block_dict(block: Block) -> dict[str, Any]:
    kind = _KIND_OF[type(block)]
    if isinstance(block, Paragraph):
        return {"type": kind, "text": block.text}
    if isinstance(block, Table):
        return {
            "type": kind,
            "columns": list(block.columns),
            "rows": [list(r) for r in block.rows],
            "caption": block.caption,
        }
    if isinstance(block, HeatMap):
        return {
            "type": kind,
            "title": block.title,
            "rows": list(block.rows),
            "columns": list(block.columns),
            "values": [list(r) for r in block.values],
        }
    return {
        "type": kind,
        "title": block.title,
        "categories": list(block.categories),
        "series": [{"name": s.name, "values": list(s.values), "color": s.color} for s in block.series],
    }
