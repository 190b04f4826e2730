"""PDF: rendered to images with poppler's `pdftoppm`, looked at pixel by pixel.

Empty boxes (tofu) are what Chinese becomes without a usable font: every missing glyph draws the
same box, so two different Chinese titles of the same length would render identically. Real glyphs
differ, and differ from a blank title.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from soc_api.reports import CJK_FONT_PATHS, FontUnavailableError, render_pdf
from tests.soc_api.reports.conftest import sample_document

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed (.ci/run installs it)"
)
HAS_CJK = any(p.is_file() for p in CJK_FONT_PATHS)
needs_font = pytest.mark.skipif(
    not HAS_CJK, reason="no CJK TrueType font (apt-get install fonts-wqy-microhei; .ci/run installs it)"
)
#: On a page rendered at 50 dpi (A4 = 413 × 585 px): the title's first line (eight characters of
#: 20 pt), and a box of the same size right of it, where nothing is drawn.
TITLE_BOX = (30, 35, 160, 60)
BLANK_BOX = (200, 35, 330, 60)


def pages(pdf: bytes, tmp_path: Path, name: str) -> list[Image.Image]:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "50", "-gray", "-png", str(source), str(tmp_path / name)], check=True)
    return [Image.open(p).convert("L") for p in sorted(tmp_path.glob(f"{name}-*.png"))]


def ink(image: Image.Image) -> int:
    """Pixels darker than light grey."""
    return sum(image.histogram()[:200])


@needs_font
def test_pages_render_with_chinese_glyphs(tmp_path: Path) -> None:
    rendered = render_pdf(sample_document(rows=120))
    assert rendered.embedded
    images = pages(rendered.data, tmp_path, "a")
    assert len(images) == rendered.pages >= 3  # the long table flows over pages
    assert all(ink(image) > 500 for image in images)  # no blank page
    fonts = subprocess.run(["pdffonts", str(tmp_path / "a.pdf")], capture_output=True, text=True, check=True)
    embedded = [line for line in fonts.stdout.splitlines() if "WenQuanYi" in line or "CJK" in line]
    assert embedded
    assert all(" yes yes " in line for line in embedded)

    other = pages(render_pdf(sample_document("网络安全事件周报", rows=120)).data, tmp_path, "b")
    title_a, title_b = images[0].crop(TITLE_BOX), other[0].crop(TITLE_BOX)
    assert ink(images[0].crop(BLANK_BOX)) == 0
    assert ink(title_a) > 300
    assert ink(title_b) > 300
    # Different characters, different pixels: glyphs, not the same box eight times.
    assert ImageChops.difference(title_a, title_b).getbbox() is not None
    # The rest of the first page is the same document.
    rest = (0, 120, images[0].width, images[0].height)
    assert ImageChops.difference(images[0].crop(rest), other[0].crop(rest)).getbbox() is None


def test_same_document_same_bytes() -> None:
    assert render_pdf(sample_document()).data == render_pdf(sample_document()).data


def test_without_a_cjk_font(tmp_path: Path) -> None:
    with pytest.raises(FontUnavailableError, match="fonts-wqy-microhei"):
        render_pdf(sample_document(), font_paths=(tmp_path / "none.ttf",), require_embedded=True)
    rendered = render_pdf(sample_document(), font_paths=(tmp_path / "none.ttf",))
    assert (rendered.font, rendered.embedded) == ("STSong-Light", False)
    assert rendered.data.startswith(b"%PDF-")
    assert len(pages(rendered.data, tmp_path, "f")) == rendered.pages
