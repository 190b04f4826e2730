"""The hot-path pre-check never claims an event valid that the full model would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.ingest import make_event
from collectors.inputs.quick import surely_valid, surely_wire_form
from datasoc.errors import EventValidationError
from datasoc.event import Event
from tests.collectors.inputs.conftest import event_dict

KEYS = [
    "@timestamp",
    "event.ingested",
    "event.id",
    "event.action",
    "event.outcome",
    "observer.collector",
    "log.original",
    "source.ip",
    "data.records",
    "data.classification",
    "user.roles",
    "datasoc.lifecycle",
    "timestamp",
    "records",
    "Image",
    "",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
VALUES = JSON | st.sampled_from(
    [
        "2026-11-28T10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-11-28T10:00:00.123456+08:00",
        "2026-11-28T10:00:00",
        "10.0.0.1",
        "::1",
        "999.1.1.1",
        "success",
        "use",
        "core",
        "x" * 200,
        2**53,
        -1,
        ["admin"],
    ]
)


def test_typical_events_take_the_fast_path() -> None:
    import orjson

    value = orjson.loads(make_event(1, 500))
    value["event.ingested"] = "2026-11-28T10:00:00.000000Z"
    assert surely_valid(value)
    assert surely_valid({**event_dict(2), "event.ingested": "2026-11-28T10:00:00Z", "data.records": 3})


@pytest.mark.parametrize(
    "change",
    [
        {"event.outcome": "maybe"},
        {"@timestamp": "2026-13-01T00:00:00Z"},
        {"source.ip": "10.0.0.256"},
        {"event.id": ""},
        {"records": 5},
        {"data.records": True},
    ],
)
def test_suspicious_values_take_the_slow_path(change: dict[str, Any]) -> None:
    assert not surely_valid({**event_dict(1), "event.ingested": "2026-11-28T10:00:00Z", **change})


@settings(max_examples=400, deadline=None)
@given(base=st.booleans(), extra=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_surely_valid_implies_the_model_accepts(base: bool, extra: dict[str, Any]) -> None:
    value = {**(event_dict(1) if base else {}), "event.ingested": "2026-11-28T10:00:00Z", **extra}
    if surely_valid(value):
        try:
            Event.from_dict(value)
        except EventValidationError as exc:  # pragma: no cover - the failure this test exists for
            pytest.fail(f"pre-check accepted what the model refuses: {exc}")


@settings(max_examples=400, deadline=None)
@given(
    ingested=st.sampled_from(
        ["2026-11-28T10:00:00.000000Z", "2026-11-28T10:00:00Z", "2026-11-28T18:00:00+08:00"]
    ),
    extra=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6),
)
def test_surely_wire_form_is_exactly_what_the_model_writes(ingested: str, extra: dict[str, Any]) -> None:
    wire = Event.from_dict({**event_dict(1), "event.ingested": "2026-11-28T10:00:00Z"}).to_dict()
    value = {**wire, "event.ingested": ingested, **extra}
    if surely_wire_form(value):
        # Consumers store and trace it as it is: it must be the model's own wire form of itself.
        assert Event.from_dict(value).to_dict() == value
    if value.get("event.ingested") in ("2026-11-28T10:00:00Z", "2026-11-28T18:00:00+08:00"):
        assert not surely_wire_form(value)  # valid, but not the one wire form of a time


def test_what_the_collectors_spool_is_in_wire_form() -> None:
    import orjson

    from collectors.sink import encode_event

    event = Event.from_dict({**event_dict(3), "event.ingested": "2026-11-28T10:00:00+08:00"})
    assert surely_wire_form(orjson.loads(encode_event(event)))
    assert not surely_wire_form([1, 2])
