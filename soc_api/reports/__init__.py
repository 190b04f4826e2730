"""The report renderer shared by bulletins (通报) and the audit-export report.

Build a `Document` (bilingual title, sections of paragraphs, tables and charts: bar, stacked bar,
line, heat map), then render it:

    html = render_html(document)              # one self-contained page, charts as inline SVG
    pdf = render_pdf(document)                # A4, CJK font embedded; pdf.data, pdf.pages

Layout of charts is pure (`charts.layout` → `Figure` of shapes); both renderers draw the same
figure. See `pdf` for what happens on a machine without a CJK font.
"""

from soc_api.reports.errors import FontUnavailableError, ReportError, ReportModelError
from soc_api.reports.html import render_html
from soc_api.reports.model import (
    BarChart,
    Bilingual,
    Block,
    Chart,
    Document,
    HeatMap,
    LineChart,
    Paragraph,
    Section,
    Series,
    StackedBarChart,
    Table,
)
from soc_api.reports.pdf import CJK_FONT_PATHS, RenderedPdf, register_cjk_font, render_pdf

__all__ = [
    "CJK_FONT_PATHS",
    "BarChart",
    "Bilingual",
    "Block",
    "Chart",
    "Document",
    "FontUnavailableError",
    "HeatMap",
    "LineChart",
    "Paragraph",
    "RenderedPdf",
    "ReportError",
    "ReportModelError",
    "Section",
    "Series",
    "StackedBarChart",
    "Table",
    "register_cjk_font",
    "render_html",
    "render_pdf",
]
