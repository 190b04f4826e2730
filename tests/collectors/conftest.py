"""Shared fixtures for the parser tests: a small hand-written catalog, a fixed clock, counting ids."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.catalog import Catalog

CATALOG: dict[str, Any] = {
    "city": "明州市",
    "departments": [
        {"id": "gaj", "name": "市公安局", "name_en": "Municipal Public Security Bureau"},
        {"id": "wjw", "name": "市卫生健康委员会"},
        {"id": "scjgj", "name": "市市场监督管理局"},
    ],
    "districts": [
        {"id": "shiben", "name": "市本级", "cidrs": ["10.10.0.0/16"]},
        {"id": "donghu", "name": "东湖区", "cidrs": ["10.21.0.0/16", "172.16.21.0/24"]},
        {"id": "xishan", "name": "西山区", "cidrs": ["10.22.0.0/16"]},
    ],
    "external_networks": [
        {"cidr": "198.51.100.0/24", "city": "上海市"},
        {"cidr": "203.0.113.0/24", "city": "广州市"},
    ],
    "datasets": [
        {
            "id": "ds-gaj-rkjc",
            "name": "人口基础信息",
            "classification": "core",
            "owner": "gaj",
            "region": "市本级",
            "table": {"engine": "mysql", "database": "gaj", "name": "rk_jcxx"},
        },
        {
            "id": "ds-gaj-hjqy",
            "name": "户籍迁移记录",
            "classification": "important",
            "owner": "gaj",
            "region": "东湖区",
            "table": {"engine": "mysql", "database": "gaj", "name": "hj_qyjl"},
        },
        {
            "id": "ds-wjw-dzbl",
            "name": "电子病历摘要",
            "classification": "core",
            "owner": "wjw",
            "region": "市本级",
            "table": {"engine": "postgresql", "database": "wjw", "name": "dzbl_zy"},
        },
        {
            "id": "ds-scjgj-qydj",
            "name": "企业登记信息",
            "classification": "general",
            "owner": "scjgj",
            "region": "市本级",
        },
    ],
    "service_accounts": ["svc_portal"],
}
NOW = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def catalog_data() -> dict[str, Any]:
    """A fresh copy of the hand-written catalog, free to modify."""
    return copy.deepcopy(CATALOG)


@pytest.fixture
def catalog(catalog_data: dict[str, Any]) -> Catalog:
    return Catalog.from_dict(catalog_data)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def new_id() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"
