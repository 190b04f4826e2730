"""The normalized event: validation names fields, wire form round-trips, schema is current."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datasoc.errors import EventValidationError
from datasoc.event import Event

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def base(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "@timestamp": "2026-11-28T10:00:00+08:00",
        "event.action": "dataset.download",
        "event.outcome": "success",
        "observer.collector": "http",
        "log.original": '{"uri":"/api/v1/datasets/ds-01/download"}',
    }
    data.update(overrides)
    return data


def test_ingest_defaults_fill_id_and_ingested() -> None:
    event = Event.from_dict(base(), now=NOW, new_id=lambda: "e-1")
    assert event.event_id == "e-1"
    assert event.ingested == NOW
    # Times are normalised to UTC.
    assert event.timestamp == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def test_given_id_is_kept() -> None:
    event = Event.from_dict(base(**{"event.id": "given"}), now=NOW, new_id=lambda: "e-1")
    assert event.event_id == "given"


def test_wire_form_round_trips_with_native_and_lifecycle_fields() -> None:
    data = base(
        **{
            "event.id": "e-2",
            "event.ingested": "2026-11-28T04:00:00Z",
            "datasoc.lifecycle": "transmit",
            "datasoc.actor_role": "user",
            "user.name": "zhangsan",
            "user.roles": ["analyst", "数据使用者"],
            "data.classification": "core",
            "data.records": 120000,
            "source.ip": "10.1.2.3",
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "nested": {"a": [1, 2]},
        }
    )
    event = Event.from_dict(data)
    wire = event.to_dict()
    assert wire["user.roles"] == ["analyst", "数据使用者"]
    assert wire["Image"] == "C:\\Windows\\System32\\cmd.exe"
    assert wire["@timestamp"] == "2026-11-28T02:00:00.000000Z"
    assert Event.from_dict(wire) == event
    assert Event.from_dict(json.loads(event.canonical())) == event
    assert event.get("data.records") == 120000
    assert event.get("Image") == wire["Image"]
    assert event.get("approval.id", "none") == "none"


def test_event_is_frozen() -> None:
    event = Event.from_dict(base(), now=NOW, new_id=lambda: "x")
    with pytest.raises(ValueError, match="frozen"):
        event.action = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"event.outcome": "ok"}, "event.outcome", "'success', 'failure' or 'unknown'"),
        ({"@timestamp": "2026-11-28 10:00:00"}, "@timestamp", "no offset"),
        ({"@timestamp": "yesterday"}, "@timestamp", "not an RFC 3339 time"),
        ({"data.classification": "secret"}, "data.classification", "'general', 'important' or 'core'"),
        ({"datasoc.lifecycle": "archive"}, "datasoc.lifecycle", "'collect'"),
        ({"data.records": -5}, "data.records", "greater than or equal to 0"),
        ({"data.bytes": 2**53}, "data.bytes", "less than or equal to 9007199254740991"),
        ({"source.ip": "300.1.1.1"}, "source.ip", "not an IPv4 or IPv6 address"),
        ({"event.action": ""}, "event.action", "at least 1 character"),
        ({"weird": float("inf")}, "weird", "not representable in JSON"),
    ],
)
def test_bad_field_is_named(overrides: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        Event.from_dict(base(**overrides), now=NOW, new_id=lambda: "x", where="gw.log:7")
    fields = dict(caught.value.problems)
    assert field in fields, caught.value.problems
    assert problem in fields[field]
    assert str(caught.value).startswith("gw.log:7: invalid event:")


def test_missing_required_fields_are_each_named() -> None:
    with pytest.raises(EventValidationError) as caught:
        Event.from_dict({"@timestamp": "2026-11-28T10:00:00Z"})
    missing = {field for field, problem in caught.value.problems if problem == "required field is missing"}
    assert missing == set(Event.REQUIRED) - {"@timestamp"}


def test_not_an_object() -> None:
    with pytest.raises(EventValidationError, match="expected a JSON object"):
        Event.from_dict(["not", "an", "object"])  # type: ignore[arg-type]


def test_docs_schema_is_current() -> None:
    on_disk = json.loads((REPO / "docs" / "event.schema.json").read_text(encoding="utf-8"))
    assert on_disk == Event.json_schema(), "regenerate with: datasoc schema event > docs/event.schema.json"
    assert on_disk["required"] == list(Event.REQUIRED)
