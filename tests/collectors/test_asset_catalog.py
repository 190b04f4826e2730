"""The asset catalog: dataset lookup by id and table, IP plan, validation errors that name the entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import CatalogError, CollectorError
from datasoc.errors import DatasocError


def test_dataset_found_by_id_qualified_table_and_bare_table(catalog: Catalog) -> None:
    by_id = catalog.dataset("ds-gaj-rkjc")
    assert by_id is not None
    assert by_id.classification == "core"
    assert catalog.dataset("gaj.rk_jcxx") is by_id
    assert catalog.dataset("rk_jcxx") is by_id
    assert catalog.dataset("GAJ.RK_JCXX") is by_id
    assert catalog.dataset("no_such_table") is None


def test_bare_table_name_shared_by_two_databases_is_ambiguous(catalog_data: dict[str, Any]) -> None:
    data = catalog_data
    data["datasets"].append(
        {
            "id": "ds-wjw-rk",
            "name": "人口健康档案",
            "classification": "important",
            "owner": "wjw",
            "region": "市本级",
            "table": {"engine": "postgresql", "database": "wjw", "name": "rk_jcxx"},
        }
    )
    catalog = Catalog.from_dict(data)
    assert catalog.dataset("rk_jcxx") is None
    found = catalog.dataset("wjw.rk_jcxx")
    assert found is not None
    assert found.id == "ds-wjw-rk"


def test_ip_plan_gives_city_and_district(catalog: Catalog) -> None:
    inside = catalog.locate("10.21.3.4")
    assert inside is not None
    assert (inside.city, inside.district) == ("明州市", "东湖区")
    outside = catalog.locate("203.0.113.77")
    assert outside is not None
    assert (outside.city, outside.district) == ("广州市", None)
    assert catalog.locate("8.8.8.8") is None
    assert catalog.locate("not-an-ip") is None


def test_longest_prefix_wins(catalog_data: dict[str, Any]) -> None:
    data = catalog_data
    data["districts"][0]["cidrs"] = ["10.0.0.0/8"]
    catalog = Catalog.from_dict(data)
    located = catalog.locate("10.21.9.9")
    assert located is not None
    assert located.district == "东湖区"
    located = catalog.locate("10.99.9.9")
    assert located is not None
    assert located.district == "市本级"


def test_round_trip_through_dict_and_file(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog.to_dict(), ensure_ascii=False), encoding="utf-8")
    again = Catalog.from_file(path)
    assert again.to_dict() == catalog.to_dict()
    assert again.locate("172.16.21.9") == catalog.locate("172.16.21.9")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["datasets"][1].update(classification="secret"), "datasets[1].classification"),
        (lambda d: d["datasets"][0].update(owner="nobody"), "datasets[0].owner"),
        (lambda d: d["datasets"][2]["table"].update(engine="oracle"), "datasets[2].table.engine"),
        (lambda d: d["districts"][1]["cidrs"].append("10.21.0.1/16"), "districts[1].cidrs[2]"),
        (lambda d: d["datasets"].append(dict(d["datasets"][0])), "datasets[4].id"),
        (lambda d: d.update(city=""), "<catalog>.city"),
        (lambda d: d.update(datasets={"x": 1}), "datasets"),
    ],
)
def test_bad_catalog_names_the_entry(catalog_data: dict[str, Any], change: Any, where: str) -> None:
    data = catalog_data
    change(data)
    with pytest.raises(CatalogError) as caught:
        Catalog.from_dict(data)
    assert caught.value.where == where
    assert isinstance(caught.value, CollectorError)
    assert isinstance(caught.value, DatasocError)


def test_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_bytes(b"{\xff")
    with pytest.raises(CatalogError, match=r"cannot read catalog"):
        Catalog.from_file(path)
