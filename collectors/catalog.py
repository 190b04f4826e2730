"""The asset catalog the parsers enrich events from: datasets, departments, districts and IP ranges.

A dataset names its grade (GB/T 43697-2024: core / important / general), its owning department
(the provider), the region it belongs to and the database table that holds it, so an event that
names either the dataset id (API gateway) or the table (database audit logs) gets the same
`data.*` fields. The IP plan maps CIDR ranges to a city and, inside the platform's own city, a
district, which gives `source.geo.city_name` and `source.geo.name`.

The governance store (`soc_api.governance`) keeps the catalog and gives the parsers a snapshot in this
form; a JSON file (`Catalog.from_file`) is the import path of existing deployments. `fields` lists the
fields graded apart from their dataset (more sensitive than it): an event that names the fields it
returned (`data.fields`) is graded by the most sensitive of them and the dataset.

    {"city": "明州市",
     "departments": [{"id": "gaj", "name": "市公安局", "name_en": "..."}],
     "districts": [{"id": "donghu", "name": "东湖区", "cidrs": ["10.21.0.0/16"]}],
     "external_networks": [{"cidr": "203.0.113.0/24", "city": "广州市"}],
     "datasets": [{"id": "ds-gaj-rkjc", "name": "人口基础信息", "classification": "core",
                   "owner": "gaj", "region": "东湖区",
                   "table": {"engine": "mysql", "database": "gaj", "name": "rk_jcxx"},
                   "fields": [{"name": "sfzh", "classification": "core"}]}],
     "service_accounts": ["svc_portal"]}
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.errors import CatalogError
from datasoc.event import CLASSIFICATIONS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ENGINES: tuple[str, ...] = ("mysql", "postgresql")


def _str(data: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str:
    value = data.get(key)
    if optional and value in (None, ""):
        return ""
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CatalogError(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(data: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise CatalogError(f"{where}{key}", f"expected a list, got {type(value).__name__}")
    return value


def _network(value: Any, where: str) -> IPNetwork:
    if not isinstance(value, str):
        raise CatalogError(where, f"expected a CIDR string, got {value!r}")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise CatalogError(where, f"not a CIDR range: {exc}") from None


@dataclass(frozen=True)
class Department:
    """A department of the city government; providers own datasets."""

    id: str
    name: str
    name_en: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "department") -> Department:
        """Validate one `departments[]` entry."""
        data = _mapping(data, where)
        return cls(
            _str(data, "id", where), _str(data, "name", where), _str(data, "name_en", where, optional=True)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as read by `from_dict`."""
        return {"id": self.id, "name": self.name, "name_en": self.name_en}


@dataclass(frozen=True)
class District:
    """A district (区/县) of the platform's city with the address ranges of its government network."""

    id: str
    name: str
    cidrs: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "district") -> District:
        """Validate one `districts[]` entry."""
        data = _mapping(data, where)
        cidrs = tuple(
            _network(c, f"{where}.cidrs[{i}]") for i, c in enumerate(_list(data, "cidrs", f"{where}."))
        )
        return cls(_str(data, "id", where), _str(data, "name", where), cidrs)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as read by `from_dict`."""
        return {"id": self.id, "name": self.name, "cidrs": [str(c) for c in self.cidrs]}


@dataclass(frozen=True)
class ExternalNetwork:
    """An address range outside the platform's city (another city's networks)."""

    cidr: IPNetwork
    city: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "external_network") -> ExternalNetwork:
        """Validate one `external_networks[]` entry."""
        data = _mapping(data, where)
        return cls(_network(data.get("cidr"), f"{where}.cidr"), _str(data, "city", where))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as read by `from_dict`."""
        return {"cidr": str(self.cidr), "city": self.city}


@dataclass(frozen=True)
class TableRef:
    """The database table behind a dataset."""

    engine: str
    database: str
    name: str

    @property
    def qualified(self) -> str:
        """`database.table`, the form the MySQL audit log and pgaudit's object name use."""
        return f"{self.database}.{self.name}"


@dataclass(frozen=True)
class Dataset:
    """A shared dataset (数据资源) with its grade, provider, region and backing table, and the grades
    of fields more sensitive than the dataset (`field_grades`)."""

    id: str
    name: str
    classification: str
    owner: str
    region: str
    table: TableRef | None = None
    name_en: str = ""
    field_grades: Mapping[str, str] = field(default_factory=dict)

    def grade_of(self, fields: Sequence[str]) -> str:
        """The grade of an access to `fields`: the most sensitive of the dataset's and theirs."""
        grades = [self.classification, *(self.field_grades[f] for f in fields if f in self.field_grades)]
        return max(grades, key=CLASSIFICATIONS.index)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "dataset") -> Dataset:
        """Validate one `datasets[]` entry."""
        data = _mapping(data, where)
        grade = data.get("classification")
        if grade not in CLASSIFICATIONS:
            raise CatalogError(
                f"{where}.classification", f"{grade!r} is not one of {', '.join(CLASSIFICATIONS)}"
            )
        table = None
        if data.get("table") is not None:
            raw = _mapping(data["table"], f"{where}.table")
            engine = raw.get("engine")
            if engine not in ENGINES:
                raise CatalogError(f"{where}.table.engine", f"{engine!r} is not one of {', '.join(ENGINES)}")
            table = TableRef(
                engine, _str(raw, "database", f"{where}.table"), _str(raw, "name", f"{where}.table")
            )
        grades: dict[str, str] = {}
        for i, item in enumerate(_list(data, "fields", f"{where}.")):
            item = _mapping(item, f"{where}.fields[{i}]")
            name = _str(item, "name", f"{where}.fields[{i}]")
            value = item.get("classification")
            if value is None:
                continue
            if value not in CLASSIFICATIONS:
                raise CatalogError(f"{where}.fields[{i}].classification", f"{value!r} is not a grade")
            grades[name] = str(value)
        return cls(
            id=_str(data, "id", where),
            name=_str(data, "name", where),
            classification=str(grade),
            owner=_str(data, "owner", where),
            region=_str(data, "region", where),
            table=table,
            name_en=_str(data, "name_en", where, optional=True),
            field_grades=grades,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as read by `from_dict`."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "classification": self.classification,
            "owner": self.owner,
            "region": self.region,
        }
        if self.table is not None:
            out["table"] = {
                "engine": self.table.engine,
                "database": self.table.database,
                "name": self.table.name,
            }
        if self.field_grades:
            out["fields"] = [{"name": n, "classification": g} for n, g in sorted(self.field_grades.items())]
        return out


@dataclass(frozen=True)
class Location:
    """Where an address sits in the IP plan: a city and, inside the platform's city, a district."""

    city: str
    district: str | None = None


@dataclass(frozen=True)
class Catalog:
    """The asset catalog and IP plan; build it with `from_dict` or `from_file`."""

    city: str
    departments: tuple[Department, ...] = ()
    districts: tuple[District, ...] = ()
    external_networks: tuple[ExternalNetwork, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    service_accounts: frozenset[str] = frozenset()
    _by_key: Mapping[str, Dataset] = field(default_factory=dict, repr=False, compare=False)
    _networks: tuple[tuple[IPNetwork, Location], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalog:
        """Validate a catalog mapping; raises `CatalogError` naming the bad entry."""
        data = _mapping(data, "<catalog>")
        departments = tuple(
            Department.from_dict(d, f"departments[{i}]") for i, d in enumerate(_list(data, "departments", ""))
        )
        districts = tuple(
            District.from_dict(d, f"districts[{i}]") for i, d in enumerate(_list(data, "districts", ""))
        )
        external = tuple(
            ExternalNetwork.from_dict(d, f"external_networks[{i}]")
            for i, d in enumerate(_list(data, "external_networks", ""))
        )
        datasets = tuple(
            Dataset.from_dict(d, f"datasets[{i}]") for i, d in enumerate(_list(data, "datasets", ""))
        )
        accounts = _list(data, "service_accounts", "")
        if not all(isinstance(a, str) and a for a in accounts):
            raise CatalogError("service_accounts", "expected a list of account names")
        city = _str(data, "city", "<catalog>")
        dept_ids = {d.id for d in departments}
        by_key: dict[str, Dataset] = {}
        for i, ds in enumerate(datasets):
            if departments and ds.owner not in dept_ids:
                raise CatalogError(f"datasets[{i}].owner", f"{ds.owner!r} is not a listed department")
            if ds.id in by_key:
                raise CatalogError(f"datasets[{i}].id", f"duplicate dataset id {ds.id!r}")
            by_key[ds.id] = ds
        by_key.update(_table_keys(datasets))
        networks = [(n, Location(city, d.name)) for d in districts for n in d.cidrs]
        networks += [(e.cidr, Location(e.city)) for e in external]
        # Longest prefix first, so a district's /24 inside a city-wide /16 wins.
        networks.sort(key=lambda item: -item[0].prefixlen)
        return cls(
            city, departments, districts, external, datasets, frozenset(accounts), by_key, tuple(networks)
        )

    @classmethod
    def from_file(cls, path: Path) -> Catalog:
        """Read a UTF-8 JSON catalog file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CatalogError(str(path), f"cannot read catalog: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as read by `from_dict`."""
        return {
            "city": self.city,
            "departments": [d.to_dict() for d in self.departments],
            "districts": [d.to_dict() for d in self.districts],
            "external_networks": [e.to_dict() for e in self.external_networks],
            "datasets": [d.to_dict() for d in self.datasets],
            "service_accounts": sorted(self.service_accounts),
        }

    def dataset(self, key: str) -> Dataset | None:
        """Find a dataset by id, by `database.table` or by a table name that is unique in the catalog."""
        return self._by_key.get(key) or self._by_key.get(key.lower())

    def department(self, dept_id: str) -> Department | None:
        """Find a department by id."""
        return next((d for d in self.departments if d.id == dept_id), None)

    def locate(self, address: str) -> Location | None:
        """Where an IP address sits in the IP plan, or None when no range holds it."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        return next((loc for net, loc in self._networks if ip in net), None)


def _table_keys(datasets: Sequence[Dataset]) -> dict[str, Dataset]:
    keys: dict[str, Dataset] = {}
    bare: dict[str, list[Dataset]] = {}
    for ds in datasets:
        if ds.table is None:
            continue
        keys[ds.table.qualified.lower()] = ds
        bare.setdefault(ds.table.name.lower(), []).append(ds)
    # A bare table name only identifies a dataset when no other database has a table of that name.
    keys.update({name: found[0] for name, found in bare.items() if len(found) == 1})
    return keys
