"""Sensitive-data discovery (敏感数据识别) over sample records or a dataset's fields. Pure.

What it recognises, value by value (`KINDS`):

- resident_id 居民身份证号 (suggests important): 18 characters, the check digit (GB 11643), a real birth
  date not after `today`, a known county (python-stdnum `cn.ric`).
- bank_card 银行卡号 (important): 13 to 19 digits, a card network's prefix, the Luhn check digit
  (python-stdnum `luhn`).
- passport 护照号 (important): E or G and eight digits, or E, a letter and seven digits (no check digit
  exists: the pattern is all there is).
- credit_code 统一社会信用代码 (general, sub-grade 1): 18 characters and the check character (GB 32100,
  python-stdnum `cn.uscc`).
- mobile 手机号 (general 3): 1[3-9] and nine digits, optionally +86.
- email 电子邮箱 (general 3): a local part, @, a dotted domain.
- address 地址 (general 3): a province or city, a district or county, and a street, road or number.

A field is found to hold a kind when at least half of its non-empty sample values are of that kind
(`by: values`), or, without sample values, when its name says so (`by: name`, e.g. `sfzh`, `mobile`).
The suggestion is the highest grade over the fields found. Evidence names fields, counts and sample
positions (row numbers in the sample) and never a value: nothing found is shown in clear. Discovery
never changes a grade; the data owner or a security administrator decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from stdnum import luhn
from stdnum.cn import ric, uscc

from soc_api.governance.policy import GRADES

MAX_SAMPLE_ROWS: Final = 10_000
MAX_POSITIONS: Final = 10
_MAX_VALUE = 256


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of sensitive value: how it is recognised and the grade it suggests."""

    name: str
    zh: str
    grade: str
    sub_grade: int | None
    hints: re.Pattern[str]


def _hint(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


KINDS: Final[Mapping[str, Kind]] = {
    k.name: k
    for k in (
        Kind(
            "resident_id",
            "居民身份证号",
            "important",
            None,
            _hint(r"sfz|zjhm|id_?card|id_?no|identity|身份证"),
        ),
        Kind("bank_card", "银行卡号", "important", None, _hint(r"yhk|bank|card_?no|卡号")),
        Kind("passport", "护照号", "important", None, _hint(r"passport|hzhm|护照")),
        Kind("credit_code", "统一社会信用代码", "general", 1, _hint(r"uscc|tyshxydm|credit_?code|信用代码")),
        Kind("mobile", "手机号", "general", 3, _hint(r"mobile|phone|sjhm|lxdh|手机|电话")),
        Kind("email", "电子邮箱", "general", 3, _hint(r"e_?mail|邮箱")),
        Kind("address", "地址", "general", 3, _hint(r"addr|^zz$|^dz$|zhuzhi|住址|地址")),
    )
}

_DIGITS18 = re.compile(r"\d{17}[\dXx]")
_CARD = re.compile(r"\d{13,19}")
_CARD_PREFIX = re.compile(r"62|4|5[1-5]|2[2-7]|3[47]|35")
_PASSPORT = re.compile(r"[EG]\d{8}|E[A-HJ-NP-Z]\d{7}")
_MOBILE = re.compile(r"(?:\+?86[- ]?)?1[3-9]\d{9}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
_ADDRESS = re.compile(
    r".{0,12}(?:省|自治区|市).{0,12}(?:市|区|县|旗|州).{0,30}(?:路|街|道|巷|里|村|弄|号|大厦|小区)"
)


def is_resident_id(value: str, today: date | None = None) -> bool:
    """Check digit, a real birth date (not after `today` when given) and a known county."""
    if not _DIGITS18.fullmatch(value):
        return False
    if not ric.is_valid(value):
        return False
    return today is None or ric.get_birth_date(value) <= today


def is_bank_card(value: str) -> bool:
    """Length, a card network's prefix and the Luhn check digit."""
    return bool(_CARD.fullmatch(value) and _CARD_PREFIX.match(value) and luhn.is_valid(value))


def is_credit_code(value: str) -> bool:
    """The unified social credit code's check character."""
    return len(value) == 18 and uscc.is_valid(value)


_CHECKS: Final[dict[str, Callable[[str, date | None], bool]]] = {
    "resident_id": is_resident_id,
    "bank_card": lambda v, _t: is_bank_card(v),
    "passport": lambda v, _t: bool(_PASSPORT.fullmatch(v)),
    "credit_code": lambda v, _t: is_credit_code(v),
    "mobile": lambda v, _t: bool(_MOBILE.fullmatch(v)),
    "email": lambda v, _t: bool(_EMAIL.fullmatch(v)),
    "address": lambda v, _t: bool(_ADDRESS.fullmatch(v)),
}


def kinds_of(value: Any, today: date | None = None) -> list[str]:
    """The kinds a single value is recognised as (usually none or one)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return []
    text = value.strip()
    if not text or len(text) > _MAX_VALUE:
        return []
    found = [name for name, check in _CHECKS.items() if check(text, today)]
    if "resident_id" in found:
        # A resident number's checks (its check digit, a real birth date, a known county) are the
        # strongest: an 18-digit number that passes them is not also taken for a card or a credit code,
        # whose single check character one number in ten or thirty-one passes by chance.
        return ["resident_id"]
    return found


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A dataset field as the catalog knows it."""

    name: str
    type: str = "string"


@dataclass(frozen=True, slots=True)
class Finding:
    """A field found to hold one kind of sensitive value, with the evidence (never the values)."""

    field: str
    kind: str
    by: str  # "values" or "name"
    hits: int = 0
    checked: int = 0
    positions: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Evidence form (stored and shown to approvers)."""
        kind = KINDS[self.kind]
        return {
            "field": self.field,
            "kind": self.kind,
            "label": kind.zh,
            "by": self.by,
            "hits": self.hits,
            "checked": self.checked,
            "positions": list(self.positions),
            "grade": kind.grade,
            "sub_grade": kind.sub_grade,
        }


@dataclass(frozen=True)
class Discovery:
    """What discovery found: per-field findings and the grade it suggests (never applied by itself)."""

    findings: tuple[Finding, ...]
    grade: str
    sub_grade: int | None
    rows: int
    field_grades: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Evidence form: fields, counts and sample positions only."""
        return {
            "suggested": {"grade": self.grade, "sub_grade": self.sub_grade},
            "rows": self.rows,
            "findings": [f.to_dict() for f in self.findings],
            "fields": {
                name: {"grade": grade, "sub_grade": sub}
                for name, (grade, sub) in sorted(self.field_grades.items())
            },
        }


def _rank(grade: str, sub_grade: int | None) -> tuple[int, int]:
    return GRADES.index(grade), sub_grade or 0


def discover(
    fields: Sequence[FieldSpec], samples: Sequence[Mapping[str, Any]] = (), *, today: date | None = None
) -> Discovery:
    """Findings over `samples` (at most `MAX_SAMPLE_ROWS` rows) and the field names; see module docstring."""
    rows = list(samples[:MAX_SAMPLE_ROWS])
    names = [f.name for f in fields] or sorted({k for row in rows for k in row})
    findings: list[Finding] = []
    for name in names:
        counts: dict[str, list[int]] = {}
        checked = 0
        for position, row in enumerate(rows):
            value = row.get(name)
            if value is None or value == "":
                continue
            checked += 1
            for kind in kinds_of(value, today):
                counts.setdefault(kind, []).append(position)
        if checked:
            best = max(counts.items(), key=lambda kv: len(kv[1]), default=None)
            if best is not None and 2 * len(best[1]) >= checked:
                kind, positions = best
                findings.append(
                    Finding(name, kind, "values", len(positions), checked, tuple(positions[:MAX_POSITIONS]))
                )
            continue
        hinted = next((k for k in KINDS.values() if k.hints.search(name)), None)
        if hinted is not None:
            findings.append(Finding(name, hinted.name, "name"))
    field_grades = {f.field: (KINDS[f.kind].grade, KINDS[f.kind].sub_grade) for f in findings}
    grade, sub = max(field_grades.values(), key=lambda g: _rank(*g), default=("general", None))
    return Discovery(tuple(findings), grade, sub, len(rows), field_grades)
