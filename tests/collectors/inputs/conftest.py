"""Fixtures of the input tests: a real spool in a temporary directory, a fixed clock, counting ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from datasoc.transport import Spool

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool.open(tmp_path / "spool") as opened:
        yield opened


@pytest.fixture
def new_id() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"id-{next(counter):06d}"


def event_dict(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid normalized event in wire form."""
    value: dict[str, Any] = {
        "@timestamp": "2026-11-28T10:00:00.000000Z",
        "event.id": f"ev-{index:06d}",
        "event.action": "api.query",
        "event.outcome": "success",
        "observer.collector": "test",
        "log.original": f"GET /api/v1/datasets/{index}",
        "user.name": "张三",
        "source.ip": "10.1.2.3",
    }
    value.update(overrides)
    return {k: v for k, v in value.items() if v is not None}


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def read_topic(spool: Spool, topic: str) -> list[dict[str, Any]]:
    end = spool.range(topic).end
    return [orjson.loads(r.payload) for r in spool.read(topic, 0, end + 1)] if end else []
