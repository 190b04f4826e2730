"""The recent-ids window: duplicates, conflicts with a request in flight, rebuilt from the spool."""

from __future__ import annotations

import orjson
import pytest

from collectors.inputs.errors import ConflictError
from collectors.inputs.idempotency import RecentIds, recent_event_ids
from datasoc.transport import EVENTS, Spool
from tests.collectors.inputs.conftest import NOW


def test_claimed_ids_become_duplicates_once_committed() -> None:
    recent = RecentIds(100)
    first = recent.claim(["a", "b", "a"])
    assert (first.fresh, first.duplicates) == ((0, 1), 1)  # an id repeated inside the request
    with pytest.raises(ConflictError, match="another request"):
        recent.claim(["c", "b"])  # b is being stored: not yet durable, so no 200 for it
    assert "c" not in recent._ids  # the refused claim left nothing behind
    recent.commit(first)
    again = recent.claim(["a", "b", "c"])
    assert (again.fresh, again.duplicates) == ((2,), 2)


def test_released_claims_can_be_stored_by_a_retry_and_the_window_is_bounded() -> None:
    recent = RecentIds(3)
    claim = recent.claim(["a"])
    recent.release(claim)  # the append failed
    assert recent.claim(["a"]).fresh == (0,)
    recent.seed(["w", "x", "y", "z"])
    assert len(recent) == 3
    assert recent.claim(["w"]).fresh == (0,)  # the oldest id left the window


def test_recent_event_ids_reads_the_tail_of_the_events_topic(spool: Spool) -> None:
    spool.append(EVENTS, [orjson.dumps({"event.id": f"e{i}"}) for i in range(10)] + [b"not json"], now=NOW)
    assert recent_event_ids(spool, 4, chunk=2) == ["e7", "e8", "e9"]
    assert len(recent_event_ids(spool, 1000)) == 10
