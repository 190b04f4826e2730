"""The alert contract: what detection emits and the service dedups, routes and shows.

Wire form (JSON) uses the dotted names of docs/architecture.md: `alert.id`, `rule.id`,
`rule.title`, `rule.level`, `rule.tags`, `warning_level`, `group`, `event_ids`, `events`,
`first_seen`, `last_seen`, `count`, `status`, and `context` when the raising engine knew more than the
events say (a grant trace alert: the grant's terms in force and the access's usage); an empty
`context` is left out of the wire form.

`warning_level` (预警级别 red/orange/yellow/blue) is derived, never chosen freely: from the Sigma
rule level, raised by the grade of the data involved (GB/T 43697-2024), see `warning_level`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from datasoc.canonical import check_json_value
from datasoc.errors import EventValidationError
from datasoc.event import Classification, format_timestamp, parse_timestamp

RuleLevel = Literal["informational", "low", "medium", "high", "critical"]
WarningLevel = Literal["blue", "yellow", "orange", "red"]
AlertStatus = Literal["new", "acknowledged", "in_progress", "resolved", "false_positive"]

#: Lowest to highest (蓝 < 黄 < 橙 < 红).
WARNING_LEVELS: tuple[WarningLevel, ...] = ("blue", "yellow", "orange", "red")
_BASE: dict[str, WarningLevel] = {
    "informational": "blue",
    "low": "blue",
    "medium": "yellow",
    "high": "orange",
    "critical": "red",
}
MAX_EVENTS_COPIED = 50


def warning_level(rule_level: str, classification: str | None) -> WarningLevel:
    """Warning level from rule level and data grade.

    Base: critical→red, high→orange, medium→yellow, low/informational→blue. Core data raises it
    one step and to at least orange; important data to at least yellow; general data leaves it.
    """
    try:
        index = WARNING_LEVELS.index(_BASE[rule_level])
    except KeyError:
        raise ValueError(f"unknown rule level {rule_level!r}; allowed: {sorted(_BASE)}") from None
    if classification == "core":
        index = max(index + 1, WARNING_LEVELS.index("orange"))
    elif classification == "important":
        index = max(index, WARNING_LEVELS.index("yellow"))
    elif classification not in (None, "general"):
        raise ValueError(f"unknown data classification {classification!r}")
    return WARNING_LEVELS[min(index, len(WARNING_LEVELS) - 1)]


def highest_classification(events: Sequence[Mapping[str, Any]]) -> Classification | None:
    """The most sensitive `data.classification` among events (core > important > general)."""
    order = {"general": 0, "important": 1, "core": 2}
    found = [e.get("data.classification") for e in events if e.get("data.classification") in order]
    return max(found, key=lambda c: order[str(c)]) if found else None


class Alert(BaseModel):
    """An alert (see module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    alert_id: str = Field(alias="alert.id", min_length=1, max_length=128)
    rule_id: str = Field(alias="rule.id", min_length=1, max_length=256)
    rule_title: str = Field(alias="rule.title", min_length=1, max_length=512)
    rule_level: RuleLevel = Field(alias="rule.level")
    rule_tags: tuple[str, ...] = Field(default=(), alias="rule.tags")
    warning_level: WarningLevel
    group: dict[str, Any] = Field(default_factory=dict, description="Correlation group-by values.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="What the engine judged against (a grant trace: the grant)."
    )
    event_ids: tuple[str, ...] = Field(min_length=1)
    events: tuple[dict[str, Any], ...] = Field(default=(), max_length=MAX_EVENTS_COPIED)
    first_seen: datetime
    last_seen: datetime
    count: int = Field(ge=1)
    status: AlertStatus = "new"

    @field_validator("first_seen", "last_seen", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        return parse_timestamp(value)

    @model_validator(mode="after")
    def _consistent(self) -> Alert:
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen: is before first_seen")
        if self.count < len(self.event_ids):
            raise ValueError(f"count: {self.count} is less than the {len(self.event_ids)} event ids")
        check_json_value(self.group)
        check_json_value(self.context)
        for event in self.events:
            check_json_value(event)
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "") -> Alert:
        """Validate a wire-form alert; raises `EventValidationError` naming each bad field."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            problems: list[tuple[str, str]] = []
            for error in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in error.get("loc", ())) or "<alert>"
                msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
                if loc == "<alert>" and ": " in msg:
                    loc, msg = msg.split(": ", 1)
                problems.append((loc, "required field is missing" if error.get("type") == "missing" else msg))
            raise EventValidationError(problems, where=where or "alert") from None

    def to_dict(self) -> dict[str, Any]:
        """Wire form with dotted names and RFC 3339 `Z` times."""
        data = self.model_dump(by_alias=True)
        data["first_seen"] = format_timestamp(self.first_seen)
        data["last_seen"] = format_timestamp(self.last_seen)
        data["rule.tags"] = list(self.rule_tags)
        data["event_ids"] = list(self.event_ids)
        data["events"] = list(self.events)
        if not self.context:
            del data["context"]
        return data
