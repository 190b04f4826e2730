"""HTML rendering: one self-contained page (inline CSS, charts as inline SVG, no external resource).

Every text of the document is escaped; nothing of it is ever markup. The page loads nothing: no
script, no font, no image URL, so it opens the same offline, in a mail client and in an archive.
"""

from __future__ import annotations

from html import escape

from soc_api.reports.charts import Figure, Label, Polyline, Rect, layout
from soc_api.reports.model import Block, Document, Paragraph, Table

#: Local fonts only (a font stack names, it never fetches).
FONT_STACK = (
    "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', "
    "'PingFang SC', sans-serif"
)
_CSS = f"""
body {{ font-family: {FONT_STACK}; color: #222; margin: 2em auto; max-width: 60em; padding: 0 1em; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.1em; }}
h1 small {{ display: block; font-size: 0.6em; color: #555; font-weight: normal; }}
.meta {{ color: #555; margin-bottom: 1.5em; }}
h2 {{ font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
caption {{ caption-side: top; text-align: left; color: #555; padding-bottom: 0.3em; }}
figure {{ margin: 1em 0; }}
svg {{ max-width: 100%; height: auto; }}
footer {{ margin-top: 2em; color: #777; font-size: 0.85em; border-top: 1px solid #eee; padding-top: 0.5em; }}
"""


def svg(figure: Figure) -> str:
    """The figure as an inline `<svg>` element."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{figure.width:g}" '
        f'height="{figure.height:g}" viewBox="0 0 {figure.width:g} {figure.height:g}" '
        f'aria-label="{escape(figure.title)}" font-family="{escape(FONT_STACK)}">',
        f"<title>{escape(figure.title)}</title>",
    ]
    for shape in figure.shapes:
        if isinstance(shape, Rect):
            stroke = f' stroke="{shape.stroke}"' if shape.stroke else ""
            parts.append(
                f'<rect x="{shape.x:.1f}" y="{shape.y:.1f}" width="{shape.w:.1f}" height="{shape.h:.1f}" '
                f'fill="{shape.fill}"{stroke}/>'
            )
        elif isinstance(shape, Polyline):
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in shape.points)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{shape.stroke}" '
                f'stroke-width="{shape.width:g}"/>'
            )
        elif isinstance(shape, Label):
            parts.append(
                f'<text x="{shape.x:.1f}" y="{shape.y:.1f}" font-size="{shape.size:g}" '
                f'text-anchor="{_ANCHOR[shape.anchor]}" fill="{shape.fill}">{escape(shape.text)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


_ANCHOR = {"start": "start", "middle": "middle", "end": "end"}


def _cell(value: str | int | float) -> str:
    if isinstance(value, int | float):
        return f'<td class="num">{escape(_format(value))}</td>'
    return f"<td>{escape(value)}</td>"


def _format(value: int | float) -> str:
    if isinstance(value, int) or value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Table):
        caption = f"<caption>{escape(block.caption)}</caption>" if block.caption else ""
        head = "".join(f"<th>{escape(c)}</th>" for c in block.columns)
        body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in block.rows)
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<figure>{svg(layout(block))}</figure>"


def render_html(document: Document) -> str:
    """The document as one self-contained HTML page (UTF-8)."""
    title = document.title
    generated = document.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title.joined())}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title.zh)}" + (f"<small>{escape(title.en)}</small>" if title.en else "") + "</h1>",
        f'<div class="meta">{escape(document.subtitle) + " · " if document.subtitle else ""}'
        f"生成时间 generated {escape(generated)}</div>",
    ]
    for section in document.sections:
        parts.append(f"<section><h2>{escape(section.heading.joined())}</h2>")
        parts.extend(_block(b) for b in section.blocks)
        parts.append("</section>")
    if document.footer:
        parts.append(f"<footer>{escape(document.footer)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts)
