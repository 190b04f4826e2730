"""HTML: one self-contained page, every text escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from soc_api.reports import Document, render_html


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") or (name == "xmlns" and tag != "svg"):
                self.urls.append(str(value))


def test_page_is_self_contained(document: Document) -> None:
    page = render_html(document)
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags  # the paragraph's <script> is text, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert parser.urls == []
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", page)
    assert parser.tags.count("svg") == 4  # bar, stacked, line, heat map
    assert "数据安全预警日报" in page
    assert "Daily alert bulletin" in page
    assert page.count("<tr>") == 1 + 5
