"""Warning levels, event classes and grades (pure): what an alert is, in the national vocabulary.

- Warning level 预警级别: 红 red, 橙 orange, 黄 yellow, 蓝 blue, the four levels of the national
  emergency plan (国家网络安全事件应急预案), from the rule's level and the data's grade (GB/T
  43697-2024) through the configured table `[alerting] levels`.
- Event class 事件分类 after GB/T 20986-2023 (网络安全事件分类分级指南), from the rule's tags through
  an ordered tag table (the first tag rule that matches wins; `[[alerting.event_classes]]` first).
- Event grade 事件分级 after the same standard: 特别重大 I, 重大 II, 较大 III, 一般 IV, which the
  four warning levels announce (red → I ... blue → IV).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

#: Lowest to highest.
WARNING_LEVELS = ("blue", "yellow", "orange", "red")
WARNING_NAMES: Mapping[str, str] = MappingProxyType(
    {"red": "红色 red", "orange": "橙色 orange", "yellow": "黄色 yellow", "blue": "蓝色 blue"}
)
WARNING_COLORS: Mapping[str, str] = MappingProxyType(
    {"red": "#c00000", "orange": "#ed7d31", "yellow": "#e6b800", "blue": "#2f5597"}
)
GRADES = ("general", "important", "core")
GRADE_NAMES: Mapping[str, str] = MappingProxyType(
    {"core": "核心数据 core", "important": "重要数据 important", "general": "一般数据 general"}
)
#: GB/T 20986-2023 event grades announced by each warning level.
EVENT_GRADES: Mapping[str, str] = MappingProxyType(
    {
        "red": "特别重大事件 (I) particularly serious",
        "orange": "重大事件 (II) serious",
        "yellow": "较大事件 (III) relatively serious",
        "blue": "一般事件 (IV) general",
    }
)
#: GB/T 20986-2023 event classes.
EVENT_CLASSES: Mapping[str, str] = MappingProxyType(
    {
        "malware": "恶意程序事件 malware",
        "network_attack": "网络攻击事件 network attack",
        "data_security": "数据安全事件 data security",
        "information_content": "信息内容安全事件 information content",
        "equipment_failure": "设备设施故障事件 equipment failure",
        "violation": "违规操作事件 violation",
        "security_hazard": "安全隐患事件 security hazard",
        "abnormal_behavior": "异常行为事件 abnormal behaviour",
        "force_majeure": "不可抗力事件 force majeure",
        "other": "其他事件 other",
    }
)
#: The project's default tag → class rules, in order (the rule pack's tags, README "Compliance tags").
DEFAULT_CLASS_RULES: tuple[tuple[str, str], ...] = (
    ("attack.defense_evasion", "violation"),
    ("attack.privilege_escalation", "violation"),
    ("attack.persistence", "violation"),
    ("attack.exfiltration", "data_security"),
    ("attack.collection", "data_security"),
    ("attack.impact", "data_security"),
    ("gbt.", "data_security"),
    ("attack.credential_access", "network_attack"),
    ("attack.initial_access", "network_attack"),
    ("attack.", "network_attack"),
    ("mlps.8.1.4.3", "security_hazard"),
)


def tag_matches(pattern: str, tag: str) -> bool:
    """A pattern ending in "." matches every tag it starts; otherwise the tag itself (case-insensitive)."""
    pattern, tag = pattern.lower(), tag.lower()
    return tag.startswith(pattern) if pattern.endswith(".") else tag == pattern


@dataclass(frozen=True)
class LevelTable:
    """Rule level × data grade → warning level (the configured `[alerting] levels`)."""

    table: Mapping[str, Mapping[str, str]]

    def __post_init__(self) -> None:
        for level, row in self.table.items():
            for grade, warning in row.items():
                if warning not in WARNING_LEVELS:
                    raise ValueError(f"alerting.levels.{level}.{grade}: unknown warning level {warning!r}")

    def level(self, rule_level: str, grade: str | None) -> str:
        """The warning level for `rule_level` on data of `grade` (no grade: as general data)."""
        row = self.table.get(rule_level)
        if row is None:
            raise ValueError(f"unknown rule level {rule_level!r}; allowed: {sorted(self.table)}")
        return row.get(grade or "general", row["general"])


@dataclass(frozen=True)
class ClassRules:
    """Ordered tag → event class rules; the first that matches any tag of the rule wins."""

    rules: tuple[tuple[str, str], ...] = DEFAULT_CLASS_RULES

    def __post_init__(self) -> None:
        for pattern, name in self.rules:
            if name not in EVENT_CLASSES:
                raise ValueError(f"event class rule {pattern!r}: unknown class {name!r}")

    @classmethod
    def with_configured(cls, configured: Sequence[tuple[str, str]]) -> ClassRules:
        """The configured rules first, then the defaults."""
        return cls((*configured, *DEFAULT_CLASS_RULES))

    def classify(self, tags: Iterable[str]) -> str:
        """The event class of a rule with `tags` (`other` when no rule matches)."""
        tags = list(tags)
        for pattern, name in self.rules:
            if any(tag_matches(pattern, tag) for tag in tags):
                return name
        return "other"


def higher(a: str, b: str) -> str:
    """The higher of two warning levels."""
    return a if WARNING_LEVELS.index(a) >= WARNING_LEVELS.index(b) else b


def highest_grade(grades: Iterable[str | None]) -> str | None:
    """The most sensitive grade among `grades` (core > important > general), or None."""
    found = [g for g in grades if g in GRADES]
    return max(found, key=GRADES.index) if found else None
