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


def test_the_stdlib_filter_lets_one_line_per_interval_through_and_counts_the_rest() -> None:
    import logging

    from collectors.ratelog import RateLimitFilter

    now = [0.0]
    limit = RateLimitFilter(interval=10.0, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, msg, None, None)

    passed = [limit.filter(record("Invalid HTTP request received.")) for _ in range(1000)]
    assert passed.count(True) == 1
    assert limit.filter(record("another message"))
    now[0] = 11.0
    later = record("Invalid HTTP request received.")
    assert limit.filter(later)
    assert later.getMessage() == "Invalid HTTP request received. (999 more like it suppressed)"
