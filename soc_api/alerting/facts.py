"""What the alert store knows of one detection alert (pure): level, class, grade, group key, the
facts suppression and routing look at, and the observables a case links to.

`AlertFacts.of(alert, policy)` is computed once at intake and stored with the alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from datasoc.alert import Alert
from soc_api.alerting.levels import ClassRules, LevelTable, highest_grade

#: Observable kinds and the event fields they come from.
OBSERVABLE_FIELDS: Mapping[str, str] = {
    "user": "user.name",
    "ip": "source.ip",
    "dataset": "data.asset.id",
    "host": "host.name",
}
_MAX_VALUE = 256
#: Fields that differ per event by nature: never facts of an alert.
_PER_EVENT = frozenset({"event.id", "@timestamp", "event.ingested", "log.original"})


@dataclass(frozen=True)
class GroupingPolicy:
    """How detection alerts become store alerts: level table, class rules, group fields, window."""

    levels: LevelTable
    classes: ClassRules
    group_fields: tuple[str, ...]
    per_rule_fields: Mapping[str, tuple[str, ...]]
    window_seconds: float

    def fields_for(self, rule_id: str) -> tuple[str, ...]:
        """The fields of `rule_id`'s group key."""
        return self.per_rule_fields.get(rule_id, self.group_fields)


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """A detection alert as the store sees it."""

    alert_id: str
    rule_id: str
    rule_title: str
    rule_level: str
    tags: tuple[str, ...]
    warning_level: str
    event_class: str
    grade: str | None
    #: `(field, value)` pairs of the group key, sorted; and its digest (`gk-` + 32 hex).
    group: tuple[tuple[str, str], ...]
    group_key: str
    first_seen: datetime
    last_seen: datetime
    events: int
    #: `observer.collector` values of its events.
    sources: tuple[str, ...]
    #: Field → value for the fields every copied event agrees on, with the group-by values.
    common: Mapping[str, Any]
    #: `(kind, value)` of the users, IPs, datasets and hosts in its events.
    observables: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, alert: Alert, policy: GroupingPolicy) -> AlertFacts:
        """The facts of `alert` under `policy`."""
        events: Sequence[Mapping[str, Any]] = alert.events
        grade = highest_grade(e.get("data.classification") for e in events)
        common = _common(events)
        for key, value in alert.group.items():
            if _scalar(value):
                common[key] = value
        fields = policy.fields_for(alert.rule_id)
        if alert.group:
            group = tuple(sorted((k, _text(v)) for k, v in alert.group.items()))
        else:
            group = tuple(sorted((f, _text(common[f])) for f in fields if f in common))
        observables = sorted(
            {
                (kind, _text(e[field]))
                for e in events
                for kind, field in OBSERVABLE_FIELDS.items()
                if _scalar(e.get(field)) and e.get(field) != ""
            }
        )
        sources = sorted(
            {str(e["observer.collector"]) for e in events if isinstance(e.get("observer.collector"), str)}
        )
        return cls(
            alert_id=alert.alert_id,
            rule_id=alert.rule_id,
            rule_title=alert.rule_title,
            rule_level=alert.rule_level,
            tags=alert.rule_tags,
            warning_level=policy.levels.level(alert.rule_level, grade),
            event_class=policy.classes.classify(alert.rule_tags),
            grade=grade,
            group=group,
            group_key=group_key(alert.rule_id, group),
            first_seen=alert.first_seen,
            last_seen=alert.last_seen,
            events=alert.count,
            sources=tuple(sources),
            common=common,
            observables=tuple(observables),
        )


def group_key(rule_id: str, group: Sequence[tuple[str, str]]) -> str:
    """`gk-` + 32 hex of SHA-256 over the rule and its sorted group values (stable across processes)."""
    digest = hashlib.sha256(rule_id.encode("utf-8"))
    for field, value in group:
        digest.update(b"\0" + field.encode("utf-8") + b"\0" + value.encode("utf-8"))
    return "gk-" + digest.hexdigest()[:32]


def in_window(
    group_first: datetime, group_last: datetime, first: datetime, last: datetime, window_seconds: float
) -> bool:
    """True when an alert seen from `first` to `last` falls within `window_seconds` of a group seen
    from `group_first` to `group_last` (a session window: gaps up to the window join)."""
    gap = window_seconds
    return (first - group_last).total_seconds() <= gap and (group_first - last).total_seconds() <= gap


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return str(value)[:_MAX_VALUE]


def _common(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if not events:
        return {}
    first = {k: v for k, v in events[0].items() if _scalar(v) and k not in _PER_EVENT}
    for event in events[1:]:
        first = {k: v for k, v in first.items() if event.get(k) == v}
    return first
