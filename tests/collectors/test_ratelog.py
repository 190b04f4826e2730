"""The rate-limited log writes a repeated line once per interval and counts what it left out."""

from __future__ import annotations

from typing import Any

from collectors.ratelog import RateLimitedLog


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


def test_a_flood_of_one_error_is_one_line_per_interval_with_the_suppressed_count() -> None:
    now = [0.0]
    sink = Lines()
    ratelog = RateLimitedLog(sink, interval=10.0, clock=lambda: now[0])
    for _ in range(400_000):
        ratelog.warning("accept_failed", key="EMFILE", error="Too many open files")
    now[0] = 10.0
    ratelog.warning("accept_failed", key="EMFILE", error="Too many open files")
    assert [fields.get("suppressed") for _, fields in sink.lines] == [None, 399_999]
    assert (ratelog.written, ratelog.suppressed) == (2, 399_999)


def test_distinct_keys_are_bounded() -> None:
    now = [0.0]
    sink = Lines()
    ratelog = RateLimitedLog(sink, interval=10.0, max_keys=3, clock=lambda: now[0])
    for peer in range(1000):
        ratelog.warning("refused", key=peer, peer=peer)
    assert len(sink.lines) == 4  # three keys, then every other peer shares the overflow key
