"""Frozen records of the governance store, and the one validated form of an access request's terms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datasoc.event import format_timestamp
from datasoc.grants import Grant, GrantError, GrantTerms
from soc_api.governance.errors import InvalidError
from soc_api.governance.policy import GRADES

LIFECYCLES = ("published", "withdrawn", "deleted")
#: The longest window a request may ask for (a year and a day: an annual renewal overlaps).
MAX_WINDOW_DAYS = 366
_TEXT_MAX = 2000


def check_grade(grade: Any, sub_grade: Any, where: str) -> tuple[str, int | None]:
    """A GB/T 43697-2024 grade and its optional general sub-grade (1..4), else `InvalidError`."""
    if grade not in GRADES:
        raise InvalidError(f"{where}.grade: 须为 {'/'.join(GRADES)} / must be one of {list(GRADES)}")
    if sub_grade is not None and (
        grade != "general"
        or isinstance(sub_grade, bool)
        or not isinstance(sub_grade, int)
        or not 1 <= sub_grade <= 4
    ):
        raise InvalidError(
            f"{where}.sub_grade: 仅一般数据可细分 1–4 级 / only general data has sub-grades 1..4"
        )
    return str(grade), sub_grade


def text(value: Any, where: str, *, limit: int = _TEXT_MAX, optional: bool = False) -> str:
    """A non-empty string of at most `limit` characters (empty allowed when `optional`)."""
    if optional and value in (None, ""):
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidError(f"{where}: 需要 1–{limit} 个字符 / expected 1..{limit} characters")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Department:
    """A department: providers own assets, consumers request them."""

    id: str
    name: str
    name_en: str = ""


@dataclass(frozen=True, slots=True)
class AssetField:
    """A field of an asset; its own grade when it is more sensitive than the asset."""

    name: str
    type: str
    description: str = ""
    grade: str | None = None
    sub_grade: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "grade": self.grade,
            "sub_grade": self.sub_grade,
        }


@dataclass(frozen=True, slots=True)
class TableRef:
    """The database table behind an asset."""

    engine: str
    database: str
    name: str


@dataclass(frozen=True, slots=True)
class Asset:
    """A data asset (数据资源) of the catalog."""

    id: str
    name: str
    owner: str
    region: str
    grade: str
    lifecycle: str = "published"
    name_en: str = ""
    sub_grade: int | None = None
    table: TableRef | None = None
    record_count: int | None = None
    fields: tuple[AssetField, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def field(self, name: str) -> AssetField | None:
        """The field of that name, if the asset has it."""
        return next((f for f in self.fields if f.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the API's and the CLI's)."""
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "owner": self.owner,
            "region": self.region,
            "grade": self.grade,
            "sub_grade": self.sub_grade,
            "lifecycle": self.lifecycle,
            "record_count": self.record_count,
            "table": None
            if self.table is None
            else {"engine": self.table.engine, "database": self.table.database, "name": self.table.name},
            "fields": [f.to_dict() for f in self.fields],
            "created_at": None if self.created_at is None else format_timestamp(self.created_at),
            "updated_at": None if self.updated_at is None else format_timestamp(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class GradeChange:
    """One change of an asset's or a field's grade (also in the ledger)."""

    asset_id: str
    field: str | None
    before: tuple[str | None, int | None]
    after: tuple[str | None, int | None]
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Proposal:
    """A catalog change proposed by a provider event or by discovery, for the owner to accept."""

    id: str
    asset_id: str
    kind: str  # new_asset | grade
    source: str
    document: Mapping[str, Any]
    status: str
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class RequestTerms:
    """What a data user asks for: the grant's terms, with the purpose and legal basis."""

    terms: GrantTerms
    purpose: str
    legal_basis: str

    @classmethod
    def from_dict(cls, data: Any, where: str = "request") -> RequestTerms:
        """Validate a request body (`assets` maps asset ids to field lists or null, times RFC 3339)."""
        if not isinstance(data, Mapping):
            raise InvalidError(f"{where}: 需要对象 / expected an object")
        try:
            terms = GrantTerms.from_dict(
                {
                    k: data.get(k)
                    for k in ("assets", "valid_from", "valid_to", "region", "record_cap", "export")
                },
                where,
            )
        except GrantError as exc:
            raise InvalidError(f"{exc.where}: {exc.reason}") from None
        if (terms.valid_to - terms.valid_from).days > MAX_WINDOW_DAYS:
            raise InvalidError(
                f"{where}.valid_to: 申请期限最长 {MAX_WINDOW_DAYS} 天 "
                f"/ a window is at most {MAX_WINDOW_DAYS} days"
            )
        if len(terms.assets) > 50:
            raise InvalidError(f"{where}.assets: 一次最多申请 50 个数据资源 / at most 50 assets per request")
        return cls(
            terms,
            text(data.get("purpose"), f"{where}.purpose"),
            text(data.get("legal_basis"), f"{where}.legal_basis"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stored, ledgered, answered)."""
        return {**self.terms.to_dict(), "purpose": self.purpose, "legal_basis": self.legal_basis}


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One person's decision on a request, with the roles and departments they held then."""

    account_id: str
    username: str
    roles: frozenset[str]
    departments: frozenset[str]
    decision: str
    note: str
    at: datetime


@dataclass(frozen=True)
class RequestRecord:
    """An access request as stored, with its decisions so far."""

    id: str
    requester_id: str
    requester: str
    terms: RequestTerms
    grade: str
    sub_grade: int | None
    owners: frozenset[str]
    policy_version: int
    status: str
    created_at: datetime
    decided_at: datetime | None = None
    decisions: tuple[DecisionRecord, ...] = field(default=())

    @property
    def retroactive(self) -> bool:
        """Whether the window starts before the request was made (a back-dated approval, flagged)."""
        return self.terms.terms.valid_from < self.created_at


@dataclass(frozen=True)
class GrantRecord:
    """A grant as stored: the grant with its history, its status and where it came from."""

    grant: Grant
    status: str  # active | revoked | expired
    source: str  # request | import
    issued_at: datetime
    updated_at: datetime
