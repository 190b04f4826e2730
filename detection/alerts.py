"""Alerts from stream matches, with ids that are a function of rule and events. Pure.

The alert id is `al-` + the first 32 hex digits of SHA-256 over the rule reference and the sorted
event ids, so a re-delivery of the same detection (replay after a failure, an at-least-once path)
carries the same id and the receiver drops it (`soc_api.stream.committer.AlertCommitter`). Both engines
(the in-process detector and the stream job) build their alerts here: the same detection carries the
same id whichever engine raised it. `Alert.model_validate` here is the one validation an alert gets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from datasoc.alert import MAX_EVENTS_COPIED, Alert, highest_classification, warning_level
from detection.correlation import CorrelationMatch
from detection.rule import CompiledRule

_LEVELS = ("informational", "low", "medium", "high", "critical")
_MAX_SAFE = 2**53 - 1


def json_safe(value: Any) -> Any:
    """A copy where integers outside the I-JSON range become strings (an alert's event copies are for
    people; a Windows u64 such as 18446744073709551615 must not make the alert invalid)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -_MAX_SAFE <= value <= _MAX_SAFE:
        return str(value)
    if isinstance(value, float) and value != value:  # NaN has no JSON form either
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def alert_id(rule_ref: str, event_ids: Sequence[str]) -> str:
    """Deterministic alert id from the rule reference and the (unordered) event ids."""
    digest = hashlib.sha256("\n".join([rule_ref, *sorted(event_ids)]).encode("utf-8")).hexdigest()
    return "al-" + digest[:32]


def _level(level: str | None) -> str:
    # Sigma makes `level` optional; an unlevelled rule is reported at the lowest level, not dropped.
    return level if level in _LEVELS else "informational"


def event_time(event: Mapping[str, Any]) -> datetime:
    """`@timestamp` of a normalized event as an aware UTC datetime (ValueError when absent or bad)."""
    value = event.get("@timestamp")
    if not isinstance(value, str):
        raise ValueError("@timestamp is missing or not a string")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"@timestamp {value!r} has no offset")
    return parsed.astimezone(UTC)


def single_alert(rule: CompiledRule, event: Mapping[str, Any]) -> Alert:
    """The alert of one single-event rule match."""
    rule_ref = rule.id or rule.name or rule.title
    event_id = str(event.get("event.id", ""))
    when = event_time(event)
    level = _level(rule.level)
    return Alert.model_validate(
        {
            "alert.id": alert_id(rule_ref, [event_id]),
            "rule.id": rule_ref,
            "rule.title": rule.title,
            "rule.level": level,
            "rule.tags": rule.tags,
            "warning_level": warning_level(level, highest_classification([event])),
            "event_ids": (event_id,),
            "events": (json_safe(dict(event)),),
            "first_seen": when,
            "last_seen": when,
            "count": 1,
        }
    )


def correlation_alert(match: CorrelationMatch, events: Mapping[int, Mapping[str, Any]]) -> Alert:
    """The alert of a correlation match; `events` maps the match's event indexes (offsets) to events."""
    chosen = [events[i] for i in match.event_indexes if i in events]
    event_ids = [str(e.get("event.id", "")) for e in chosen]
    level = _level(match.level)
    return Alert.model_validate(
        {
            "alert.id": alert_id(match.rule_ref, event_ids),
            "rule.id": match.rule_ref,
            "rule.title": match.title,
            "rule.level": level,
            "rule.tags": match.tags,
            "warning_level": warning_level(level, highest_classification(chosen)),
            "group": json_safe({k: list(v) if isinstance(v, tuple) else v for k, v in match.group}),
            "event_ids": tuple(event_ids),
            "events": tuple(json_safe(dict(e)) for e in chosen[:MAX_EVENTS_COPIED]),
            "first_seen": match.first_time,
            "last_seen": match.last_time,
            "count": max(match.count, len(event_ids)),
        }
    )


def alert_line(alert: Alert) -> str:
    """One JSON line (sorted keys, UTF-8 text) of the alert's wire form."""
    return json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
