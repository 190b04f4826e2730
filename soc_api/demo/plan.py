"""The demo's data assets' fields and its access plan: who will ask for what, and who approves it.

The generator writes the plan as `requests.json` (it is not an approval register): `datasoc demo` has
each request made through the governance services by its requester and approved by the right people
(`soc_api.demo.governance`), and the platform traces the demo's accesses against the grants that
issues. Static tables and pure functions only; the seeded draws stay in `world`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from datasoc.event import parse_timestamp
from datasoc.grants import Grant, GrantTerms

#: Field -> (type, grade when more sensitive than its dataset, what it holds). Kinds feed the samples
#: discovery reads (`soc_api.demo.governance`).
F = tuple[str, str, str | None, str]
_NAME: Final = ("xm", "string", None, "name")
_ID_CORE: Final = ("sfzh", "string", "core", "resident_id")
DATASET_FIELDS: Final[Mapping[str, tuple[F, ...]]] = {
    "ds-gaj-rkjc": (
        _NAME,
        ("xb", "string", None, "text"),
        ("csrq", "date", None, "date"),
        ("sfzh", "string", None, "resident_id"),
        ("hjdz", "string", None, "address"),
    ),
    "ds-gaj-hjqy": (
        _NAME,
        _ID_CORE,
        ("qcd", "string", None, "address"),
        ("qrd", "string", None, "address"),
        ("qyrq", "date", None, "date"),
    ),
    "ds-gaj-jsr": (
        _NAME,
        _ID_CORE,
        ("jszh", "string", None, "text"),
        ("zjcx", "string", None, "text"),
        ("lxdh", "string", None, "mobile"),
    ),
    "ds-gaj-kktx": (
        ("kkbh", "string", None, "text"),
        ("hphm", "string", None, "text"),
        ("tgsj", "datetime", None, "date"),
    ),
    "ds-wjw-dzbl": (
        _NAME,
        ("sfzh", "string", None, "resident_id"),
        ("jzrq", "date", None, "date"),
        ("zdmc", "string", None, "text"),
    ),
    "ds-wjw-ymjz": (_NAME, _ID_CORE, ("ymmc", "string", None, "text"), ("jzrq", "date", None, "date")),
    "ds-wjw-yljg": (
        ("jgmc", "string", None, "text"),
        ("jgdz", "string", None, "address"),
        ("lxdh", "string", None, "mobile"),
    ),
    "ds-rsj-sbcb": (_NAME, _ID_CORE, ("cbxz", "string", None, "text"), ("cbrq", "date", None, "date")),
    "ds-rsj-jydj": (
        _NAME,
        ("sfzh", "string", "important", "resident_id"),
        ("dwmc", "string", None, "text"),
        ("jyrq", "date", None, "date"),
    ),
    "ds-rsj-jnzs": (_NAME, ("zsbh", "string", None, "text"), ("zsdj", "string", None, "text")),
    "ds-scjgj-qydj": (
        ("qymc", "string", None, "text"),
        ("tyshxydm", "string", None, "credit_code"),
        ("fddbr", "string", None, "name"),
        ("fddbr_sfzh", "string", "important", "resident_id"),
    ),
    "ds-scjgj-xzcf": (
        ("qymc", "string", None, "text"),
        ("tyshxydm", "string", None, "credit_code"),
        ("cfnr", "string", None, "text"),
    ),
    "ds-scjgj-spxk": (
        ("qymc", "string", None, "text"),
        ("xkzh", "string", None, "text"),
        ("yxq", "date", None, "date"),
    ),
    "ds-zrzyj-bdc": (
        ("bdcdyh", "string", None, "text"),
        ("qlr", "string", None, "name"),
        ("qlr_sfzh", "string", None, "resident_id"),
        ("zl", "string", None, "address"),
    ),
    "ds-zrzyj-gtgh": (
        ("ghbh", "string", None, "text"),
        ("ghmc", "string", None, "text"),
        ("ydxz", "string", None, "text"),
    ),
    "ds-swj-nsxy": (
        ("nsrmc", "string", None, "text"),
        ("tyshxydm", "string", None, "credit_code"),
        ("xydj", "string", None, "text"),
    ),
    "ds-swj-qyns": (
        ("nsrmc", "string", None, "text"),
        ("tyshxydm", "string", None, "credit_code"),
        ("ynse", "decimal", None, "text"),
    ),
    "ds-jtj-gjsk": (
        ("kh", "string", None, "text"),
        ("skrq", "datetime", None, "date"),
        ("xlh", "string", None, "text"),
    ),
    "ds-jtj-lkss": (
        ("ldmc", "string", None, "text"),
        ("sd", "decimal", None, "text"),
        ("cjsj", "datetime", None, "date"),
    ),
    "ds-mzj-dbjz": (_NAME, _ID_CORE, ("jtdz", "string", None, "address"), ("bzje", "decimal", None, "text")),
    "ds-mzj-hydj": (
        ("nfxm", "string", None, "name"),
        ("nfsfzh", "string", "core", "resident_id"),
        ("vfxm", "string", None, "name"),
        ("djrq", "date", None, "date"),
    ),
    "ds-jyj-xjxx": (
        _NAME,
        ("xjh", "string", None, "text"),
        ("xxmc", "string", None, "text"),
        ("jhrlxdh", "string", None, "mobile"),
    ),
    "ds-jyj-xxml": (
        ("xxmc", "string", None, "text"),
        ("xxdz", "string", None, "address"),
        ("lxdh", "string", None, "mobile"),
    ),
}
#: A legal basis per purpose (a request names both).
LEGAL_BASES: Final[Mapping[str, str]] = {
    "政务服务事项办理核验": "《政务数据共享管理办法》第十二条",
    "社会救助资格比对": "《社会救助暂行办法》第十一条",
    "城市运行监测分析": "《城市运行管理服务平台建设指南》",
    "应急处置人员核查": "《突发事件应对法》第五十二条",
    "审计监督数据比对": "《审计法》第三十四条",
    "营商环境评估统计": "《优化营商环境条例》第五十五条",
}
#: Records a planned grant allows over its life: far above a data user's normal use in a month.
PLANNED_CAP: Final = 100_000


def open_fields(dataset: str) -> tuple[str, ...]:
    """The fields of a dataset not graded above it: what a plain request names and a response returns."""
    return tuple(name for name, _type, grade, _kind in DATASET_FIELDS.get(dataset, ()) if grade is None)


def catalog_fields(dataset: str) -> list[dict[str, Any]]:
    """A dataset's fields in the catalog file's form."""
    return [
        {"name": name, "type": kind, "classification": grade}
        for name, kind, grade, _what in DATASET_FIELDS.get(dataset, ())
    ]


@dataclass(frozen=True)
class PlannedGrant:
    """A request the demo makes through the governance services, and the grant it is to become."""

    id: str
    user: str
    dataset: str
    allowed_region: str
    valid_from: datetime
    valid_to: datetime
    purpose: str = ""
    approver: str = ""
    fields: tuple[str, ...] = field(default=())
    record_cap: int = PLANNED_CAP
    export: bool = True

    def valid_at(self, when: datetime) -> bool:
        """Whether `when` is in the planned window."""
        return self.valid_from <= when < self.valid_to

    @property
    def legal_basis(self) -> str:
        """The legal basis of its purpose."""
        return LEGAL_BASES.get(self.purpose, "《政务数据共享管理办法》")

    def to_dict(self) -> dict[str, Any]:
        """`requests.json` form."""
        return {
            "id": self.id,
            "user": self.user,
            "dataset": self.dataset,
            "fields": list(self.fields),
            "allowed_region": self.allowed_region,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "record_cap": self.record_cap,
            "export": self.export,
            "approver": self.approver,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedGrant:
        """Read back `to_dict`."""
        return cls(
            id=str(data["id"]),
            user=str(data["user"]),
            dataset=str(data["dataset"]),
            allowed_region=str(data["allowed_region"]),
            valid_from=parse_timestamp(data["valid_from"]),
            valid_to=parse_timestamp(data["valid_to"]),
            purpose=str(data.get("purpose", "")),
            approver=str(data.get("approver", "")),
            fields=tuple(data.get("fields", ())),
            record_cap=int(data.get("record_cap", PLANNED_CAP)),
            export=bool(data.get("export", True)),
        )

    def request_body(self) -> dict[str, Any]:
        """The access request a requester makes for it (`soc_api.governance.records.RequestTerms`)."""
        return {
            "assets": {self.dataset: list(self.fields) or None},
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "region": self.allowed_region,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "record_cap": self.record_cap,
            "export": self.export,
        }

    def grant(self) -> Grant:
        """The grant it becomes once approved (for offline replays and tests)."""
        terms = GrantTerms(
            assets={self.dataset: frozenset(self.fields) or None},
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            region=self.allowed_region,
            record_cap=self.record_cap,
            export=self.export,
        )
        return Grant.issue(self.id, self.user, terms, purpose=self.purpose, approvers=(self.approver,))


def read_plan(records: Iterable[Mapping[str, Any]]) -> list[PlannedGrant]:
    """A plan from its JSON records."""
    return [PlannedGrant.from_dict(r) for r in records]


def planned_grants(plan: Sequence[PlannedGrant]) -> list[Grant]:
    """The grants a plan becomes once approved."""
    return [p.grant() for p in plan]
