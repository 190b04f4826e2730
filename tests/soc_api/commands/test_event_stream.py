"""Reading events as a stream, and `--sort` in memory and on disk."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.errors import EventFormatError
from soc_api.commands.detect import evaluation_order
from soc_api.commands.event_stream import read_records, time_ordered


def _read(data: bytes, **kwargs: Any) -> list[dict[str, Any]]:
    return list(read_records(io.BytesIO(data), **kwargs))


def test_json_lines_blank_lines_and_crlf() -> None:
    assert _read(b'{"a": 1}\r\n\n  \n{"b": [1, 2]}\n{"c": null}') == [{"a": 1}, {"b": [1, 2]}, {"c": None}]


def test_values_over_several_lines_and_back_to_back() -> None:
    pretty = json.dumps({"Event": {"System": {"EventID": 1}}}, indent=2)
    data = (pretty + pretty + "\n" + '{"x": 1}\n' + pretty).encode()
    assert [sorted(r) for r in _read(data)] == [["Event"], ["Event"], ["x"], ["Event"]]


def test_integers_beyond_64_bits_are_kept() -> None:
    assert _read(b'{"size": 18446744073709551616}\n') == [{"size": 18446744073709551616}]


def test_errors_name_the_event_and_the_line() -> None:
    with pytest.raises(EventFormatError, match="event 1: invalid JSON at line 3"):
        _read(b'{"a": 1}\n\n{oops\n')
    with pytest.raises(EventFormatError, match="event 1: expected a JSON object, got list"):
        _read(b'{"a": 1}\n[1]\n')
    with pytest.raises(EventFormatError, match="event 7: invalid JSON at line 12"):
        _read(b"{oops\n", first_line=12, first_index=7)


def _at(minutes: int | None) -> dict[str, Any]:
    if minutes is None:
        return {"n": "untimed"}
    return {"@timestamp": (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), max_size=40), st.integers(1, 2000))
def test_time_ordered_is_evaluation_order_in_memory_and_on_disk(times: list[int | None], buffer: int) -> None:
    events = [(i, _at(t)) for i, t in enumerate(times)]
    moments = [None if t is None else datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=t) for t in times]
    ordered = list(time_ordered(iter(events), buffer_bytes=buffer))
    assert [i for i, _ in ordered] == evaluation_order(moments)
    assert all(event == events[i][1] for i, event in ordered)


def test_sorted_runs_on_disk_are_removed() -> None:
    import tempfile
    from pathlib import Path

    before = set(Path(tempfile.gettempdir()).glob("datasoc-sort-*"))
    events = [(i, _at(100 - i)) for i in range(50)]
    assert [i for i, _ in time_ordered(iter(events), buffer_bytes=10)] == list(range(49, -1, -1))
    assert set(Path(tempfile.gettempdir()).glob("datasoc-sort-*")) == before
