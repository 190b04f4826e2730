"""Alert contract: validation, wire form, and the warning-level table."""

from __future__ import annotations

import pytest

from datasoc.alert import Alert, highest_classification, warning_level
from datasoc.errors import EventValidationError


def wire(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "alert.id": "a-1",
        "rule.id": "5f6c1f38-0000-4000-8000-000000000001",
        "rule.title": "核心数据夜间批量导出 Bulk export of core data at night",
        "rule.level": "high",
        "rule.tags": ["attack.exfiltration", "mlps.8.1.4.3"],
        "warning_level": "red",
        "group": {"user.name": "xiehaiyan"},
        "event_ids": ["e-1", "e-2"],
        "events": [{"event.id": "e-1"}, {"event.id": "e-2"}],
        "first_seen": "2026-11-26T18:07:00Z",
        "last_seen": "2026-11-26T18:33:29+00:00",
        "count": 2,
    }
    data.update(overrides)
    return data


def test_round_trip_and_default_status() -> None:
    alert = Alert.from_dict(wire())
    assert alert.status == "new"
    out = alert.to_dict()
    assert out["last_seen"] == "2026-11-26T18:33:29.000000Z"
    assert out["rule.tags"] == ["attack.exfiltration", "mlps.8.1.4.3"]
    assert Alert.from_dict(out) == alert


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"warning_level": "purple"}, "warning_level", "'blue', 'yellow', 'orange' or 'red'"),
        ({"rule.level": "severe"}, "rule.level", "'critical'"),
        ({"event_ids": []}, "event_ids", "at least 1"),
        ({"count": 1}, "count", "less than the 2 event ids"),
        ({"last_seen": "2026-11-26T17:00:00Z"}, "last_seen", "before first_seen"),
        ({"status": "closed"}, "status", "'false_positive'"),
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
    ],
)
def test_bad_alert_names_field(overrides: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        Alert.from_dict(wire(**overrides))
    problems = dict(caught.value.problems)
    assert field in problems, caught.value.problems
    assert fragment in problems[field]


@pytest.mark.parametrize(
    ("level", "grade", "expected"),
    [
        ("informational", None, "blue"),
        ("low", "general", "blue"),
        ("medium", None, "yellow"),
        ("high", None, "orange"),
        ("critical", None, "red"),
        ("low", "important", "yellow"),
        ("high", "important", "orange"),
        ("low", "core", "orange"),
        ("medium", "core", "orange"),
        ("high", "core", "red"),
        ("critical", "core", "red"),
    ],
)
def test_warning_level_table(level: str, grade: str | None, expected: str) -> None:
    assert warning_level(level, grade) == expected


def test_warning_level_rejects_unknown_inputs() -> None:
    with pytest.raises(ValueError, match="unknown rule level"):
        warning_level("urgent", None)
    with pytest.raises(ValueError, match="unknown data classification"):
        warning_level("low", "secret")


def test_highest_classification() -> None:
    events = [{"data.classification": "general"}, {"data.classification": "core"}, {}]
    assert highest_classification(events) == "core"
    assert highest_classification([{"x": 1}]) is None
