"""Fuzzing the HTTP body handling: any body gets a clear 4xx or per-record results, never a 500,
and every rejected record is on the dead-letter topic."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasoc.transport import DEADLETTER, EVENTS
from tests.collectors.inputs.conftest import event_dict
from tests.soc_api.api.conftest import Api, build_api

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _dumps(value: object) -> bytes:
    # The standard library also writes what orjson refuses (NaN, integers past 64 bits): more to fuzz.
    return json.dumps(value).encode()


def _lines() -> st.SearchStrategy[bytes]:
    valid = st.integers(0, 10**6).map(lambda i: orjson.dumps(event_dict(i)))
    mutated = st.builds(
        lambda i, key, value: _dumps({**event_dict(i), key: value}),
        st.integers(0, 10**6),
        st.sampled_from(["@timestamp", "event.outcome", "source.ip", "data.records", "x", "timestamp"]),
        JSON_VALUES,
    )
    nested = st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth)
    huge = st.integers(4000, 9000).map(lambda n: orjson.dumps(event_dict(1, **{"log.original": "x" * n})))
    return valid | mutated | st.binary(max_size=200) | nested | huge


BODIES = st.one_of(
    st.binary(max_size=3000),
    st.lists(_lines(), max_size=12).map(lambda lines: b"\n".join(lines)),
    st.lists(_lines(), max_size=6).map(lambda lines: gzip.compress(b"\n".join(lines))),
    st.lists(_lines(), min_size=1, max_size=6).map(lambda lines: gzip.compress(b"\n".join(lines))[:-5]),
    st.lists(JSON_VALUES, max_size=5).map(_dumps),
)


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("fuzz")
    yield from build_api(path, max_body_bytes=64 * 1024, max_decoded_bytes=256 * 1024, max_record_bytes=4096)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=BODIES,
    gzip_header=st.booleans(),
    content_type=st.sampled_from([None, "application/json", "application/x-ndjson"]),
)
def test_any_body_gets_a_clear_answer(
    fuzz_api: Api, body: bytes, gzip_header: bool, content_type: str | None
) -> None:
    headers = {"content_encoding": "gzip"} if gzip_header or body[:2] == b"\x1f\x8b" else {}
    if content_type:
        headers["content_type"] = content_type
    events_before = fuzz_api.spool.range(EVENTS).end
    dead_before = fuzz_api.spool.range(DEADLETTER).end
    response = fuzz_api.post(body, **headers)
    assert response.status_code in (200, 400, 413, 415), response.text
    answer = response.json()
    events = fuzz_api.spool.range(EVENTS).end - events_before
    dead = fuzz_api.spool.range(DEADLETTER).end - dead_before
    if response.status_code == 200:
        # Events already in the idempotency window are accepted without being appended again;
        # rejects past the dead-letter bound are summarised in one more dead letter.
        assert answer["accepted"] - answer["duplicates"] == events
        kept = min(answer["rejected"], 100)
        assert dead == kept + (answer["rejected"] > kept)
        assert len(answer["errors"]) == min(answer["rejected"], 20)
    elif response.status_code == 400:
        assert (events, dead) == (0, 1)
        assert answer["error"]
    else:
        assert (events, dead) == (0, 0)
