"""PDF rendering with ReportLab: A4, Chinese text in an embedded CJK TrueType font, charts drawn
from the same figures as the HTML's SVG.

The font: the first of `font_paths` (default: `CJK_FONT_PATHS`, WenQuanYi Micro Hei first, which
Debian's `fonts-wqy-microhei` installs) that ReportLab can embed (TrueType outlines; CFF-based
OpenType such as Noto Sans CJK cannot be embedded by ReportLab). Without one, the document is set in
the standard CID font `STSong-Light` (Adobe's Chinese font pack, *not embedded*): the PDF stays valid
and its text searchable, but it shows Chinese only where the reader has that font (Acrobat does;
poppler and browsers on a machine without a CJK font show empty boxes). `render_pdf` logs that and
says so in `RenderedPdf.embedded`; `require_embedded=True` raises `FontUnavailableError` instead.

Output is deterministic: the same document gives the same bytes (ReportLab's invariant mode puts no
wall-clock time or random id in the file), so a bulletin's digest in the ledger identifies it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Group, PolyLine, String
from reportlab.graphics.shapes import Rect as RlRect
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Flowable, KeepTogether, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Paragraph as RlParagraph
from reportlab.platypus import Table as RlTable
from reportlab.platypus.doctemplate import LayoutError

from datasoc.logging import get_logger
from soc_api.reports.charts import Figure, Label, Polyline, Rect, layout
from soc_api.reports.errors import FontUnavailableError, ReportError
from soc_api.reports.model import Block, Document, Paragraph, Table

log = get_logger("reports")
#: Where CJK TrueType fonts live on common Linux systems, most preferred first.
CJK_FONT_PATHS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
)
FALLBACK_CID_FONT = "STSong-Light"
_MARGIN = 18 * mm


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    """A rendered PDF: its bytes, page count, the font it is set in and whether that is embedded."""

    data: bytes
    pages: int
    font: str
    embedded: bool


def register_cjk_font(font_paths: Sequence[Path] = CJK_FONT_PATHS) -> tuple[str, bool]:
    """Register the first usable CJK TrueType font of `font_paths` with ReportLab: `(name, True)`;
    else the non-embedded CID font: `(FALLBACK_CID_FONT, False)`."""
    for path in font_paths:
        if not path.is_file():
            continue
        name = "CJK-" + hashlib.sha256(str(path).encode()).hexdigest()[:8]
        if name in pdfmetrics.getRegisteredFontNames():
            return name, True
        try:
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        except (TTFError, OSError) as exc:
            log.warning("report_font_unusable", path=str(path), error=str(exc)[:200])
            continue
        return name, True
    if FALLBACK_CID_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_CID_FONT))
    return FALLBACK_CID_FONT, False


class _Chart(Flowable):  # type: ignore[misc]  # ReportLab is untyped
    """A figure scaled to the frame's width."""

    def __init__(self, figure: Figure, font: str, width: float) -> None:
        super().__init__()
        self.figure = figure
        self.font = font
        self.scale = min(1.0, width / figure.width)
        self.width = figure.width * self.scale
        self.height = figure.height * self.scale

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        drawing = Drawing(self.width, self.height)
        group = Group()
        h = self.figure.height
        for shape in self.figure.shapes:
            if isinstance(shape, Rect):
                group.add(
                    RlRect(
                        shape.x,
                        h - shape.y - shape.h,
                        shape.w,
                        shape.h,
                        fillColor=colors.HexColor(shape.fill),
                        strokeColor=colors.HexColor(shape.stroke) if shape.stroke else None,
                        strokeWidth=0.5 if shape.stroke else 0,
                    )
                )
            elif isinstance(shape, Polyline):
                points = [c for x, y in shape.points for c in (x, h - y)]
                group.add(
                    PolyLine(points, strokeColor=colors.HexColor(shape.stroke), strokeWidth=shape.width)
                )
            elif isinstance(shape, Label):
                group.add(
                    String(
                        shape.x,
                        h - shape.y,
                        shape.text,
                        fontName=self.font,
                        fontSize=shape.size,
                        fillColor=colors.HexColor(shape.fill),
                        textAnchor=shape.anchor,
                    )
                )
        group.scale(self.scale, self.scale)
        drawing.add(group)
        drawing.drawOn(self.canv, 0, 0)


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, wordWrap="CJK", spaceAfter=6)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=26, spaceAfter=2),
        "title_en": ParagraphStyle("title_en", parent=base, fontSize=12, leading=16, textColor="#555555"),
        "meta": ParagraphStyle("meta", parent=base, fontSize=9, textColor="#555555", spaceAfter=12),
        "h2": ParagraphStyle("h2", parent=base, fontSize=13.5, leading=18, spaceBefore=12, spaceAfter=6),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11, spaceAfter=0),
        "num": ParagraphStyle("num", parent=base, fontSize=8.5, leading=11, spaceAfter=0, alignment=TA_RIGHT),
        "caption": ParagraphStyle("caption", parent=base, fontSize=9, textColor="#555555", spaceAfter=2),
    }


def _cell(value: str | int | float, styles: dict[str, ParagraphStyle]) -> RlParagraph:
    if isinstance(value, int | float):
        text = f"{int(value):,}" if value == int(value) else f"{value:,.2f}"
        return RlParagraph(text, styles["num"])
    return RlParagraph(escape(value), styles["cell"])


def _flowables(block: Block, styles: dict[str, ParagraphStyle], font: str, width: float) -> list[Any]:
    if isinstance(block, Paragraph):
        return [RlParagraph(escape(block.text), styles["body"])]
    if isinstance(block, Table):
        data = [[RlParagraph(escape(c), styles["cell"]) for c in block.columns]]
        data += [[_cell(v, styles) for v in row] for row in block.rows]
        table = RlTable(data, repeatRows=1, colWidths=[width / len(block.columns)] * len(block.columns))
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f2f2")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        caption = [RlParagraph(escape(block.caption), styles["caption"])] if block.caption else []
        return [*caption, table, Spacer(1, 6)]
    return [_Chart(layout(block), font, width), Spacer(1, 8)]


def render_pdf(
    document: Document,
    *,
    font_paths: Sequence[Path] = CJK_FONT_PATHS,
    require_embedded: bool = False,
) -> RenderedPdf:
    """The document as an A4 PDF (see the module docstring for fonts)."""
    font, embedded = register_cjk_font(font_paths)
    if not embedded:
        if require_embedded:
            raise FontUnavailableError(
                "no CJK TrueType font found (looked in "
                + ", ".join(str(p) for p in font_paths)
                + "); install one, e.g. `apt-get install fonts-wqy-microhei`"
            )
        log.warning(
            "report_font_not_embedded", font=font, detail="Chinese shows only where the reader has it"
        )
    styles = _styles(font)
    out = io.BytesIO()
    title = document.title
    footer = document.footer

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(_MARGIN, 10 * mm, footer or title.joined())
        canvas.drawRightString(A4[0] - _MARGIN, 10 * mm, f"第 {doc.page} 页 / page {doc.page}")
        canvas.restoreState()

    pdf = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=title.joined(),
        author="datasoc",
        creator="datasoc",
        subject=document.subtitle or title.en or title.zh,
        invariant=1,
    )
    width = pdf.width
    story: list[Any] = [RlParagraph(escape(title.zh), styles["title"])]
    if title.en:
        story.append(RlParagraph(escape(title.en), styles["title_en"]))
    generated = document.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    meta = (
        escape(document.subtitle) + " · " if document.subtitle else ""
    ) + f"生成时间 generated {escape(generated)}"
    story.append(RlParagraph(meta, styles["meta"]))
    for section in document.sections:
        heading = RlParagraph(escape(section.heading.joined()), styles["h2"])
        blocks = [f for b in section.blocks for f in _flowables(b, styles, font, width)]
        # A heading never ends a page alone.
        story.append(KeepTogether([heading, *blocks[:1]]))
        story.extend(blocks[1:])
    try:
        pdf.build(story, onFirstPage=on_page, onLaterPages=on_page)
    except LayoutError as exc:
        raise ReportError(f"report layout failed: {exc}") from None
    return RenderedPdf(out.getvalue(), pdf.page, font, embedded)
