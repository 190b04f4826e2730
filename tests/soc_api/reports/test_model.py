"""The document model checks itself and round-trips through its JSON form."""

from __future__ import annotations

import pytest

from soc_api.reports import BarChart, Document, HeatMap, ReportModelError, Series, Table
from tests.soc_api.reports.conftest import sample_document


def test_json_round_trip() -> None:
    document = sample_document()
    again = Document.from_dict(document.to_dict())
    assert again == document


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda: BarChart("t", ("a", "b"), (Series("s", (1.0,)),)), "bar.series[s]"),
        (lambda: BarChart("t", ("a",), (Series("s", (-1.0,)),)), "series[s].values[0]"),
        (lambda: BarChart("t", ("a",), (Series("s", (float("nan"),)),)), "series[s].values[0]"),
        (lambda: BarChart("t", (), (Series("s", ()),)), "bar.categories"),
        (lambda: Table(("a", "b"), (("x",),)), "table.rows[0]"),
        (lambda: HeatMap("h", ("r",), ("c1", "c2"), ((1.0,),)), "heatmap.values[0]"),
        (lambda: Series("s", (1.0,), "red"), "series[s].color"),
    ],
)
def test_malformed_parts_are_named(build: object, where: str) -> None:
    with pytest.raises(ReportModelError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.where == where


def test_from_dict_names_the_bad_block() -> None:
    data = sample_document().to_dict()
    data["sections"][1]["blocks"][1]["rows"][2] = ["only one cell"]
    with pytest.raises(ReportModelError) as caught:
        Document.from_dict(data)
    assert caught.value.where == "table.rows[2]"
    data["sections"][0]["blocks"][0] = {"type": "script"}
    with pytest.raises(ReportModelError, match=r"sections\[0\]\.blocks\[0\]"):
        Document.from_dict(data)
