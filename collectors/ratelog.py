"""A log that rate-limits repeated lines: the first of a kind is written, then at most one per interval.

A listener under attack, or a process out of file descriptors, can hit the same error thousands
of times a second; writing each one fills the disk with the same line (measured: 401,408
"Too many open files" lines, 162 MB, in one minute). Here each *key* (the event name plus what
the caller says makes it distinct, e.g. the peer) is written at most once per `interval`; the
next line written for it carries `suppressed=N`, the number of lines left out since. Keys are
bounded (`max_keys`): past it, new keys share one overflow key, so memory stays bounded under a
flood of distinct peers.

Time is passed in (`clock`, seconds on a monotonic scale), so tests never sleep.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

OVERFLOW_KEY: Final = ("<overflow>",)


@dataclass
class _Slot:
    last_written: float
    suppressed: int = 0


class RateLimitedLog:
    """Writes `logger.<level>(event, **fields)` at most once per `interval` per key (module docstring)."""

    def __init__(
        self,
        logger: Any,
        *,
        interval: float = 10.0,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or max_keys < 1:
            raise ValueError("interval must be positive and max_keys at least 1")
        self._logger = logger
        self._interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self.written = 0
        self.suppressed = 0

    def log(self, level: str, event: str, *, key: Hashable = (), **fields: Any) -> bool:
        """Write the line unless its key was written less than `interval` ago; True if written."""
        now = self._clock()
        full_key: Hashable = (event, key)
        with self._lock:
            slot = self._slots.get(full_key)
            if slot is None and len(self._slots) >= self._max_keys:
                self._expire(now)
                if len(self._slots) >= self._max_keys:
                    full_key = (event, OVERFLOW_KEY)
                    slot = self._slots.get(full_key)
            if slot is not None and now - slot.last_written < self._interval:
                slot.suppressed += 1
                self.suppressed += 1
                return False
            suppressed = slot.suppressed if slot is not None else 0
            self._slots[full_key] = _Slot(now)
            self._slots.move_to_end(full_key)
            self.written += 1
        if suppressed:
            fields["suppressed"] = suppressed
        getattr(self._logger, level)(event, **fields)
        return True

    def warning(self, event: str, *, key: Hashable = (), **fields: Any) -> bool:
        """`log("warning", ...)`."""
        return self.log("warning", event, key=key, **fields)

    def error(self, event: str, *, key: Hashable = (), **fields: Any) -> bool:
        """`log("error", ...)`."""
        return self.log("error", event, key=key, **fields)

    def _expire(self, now: float) -> None:
        # Oldest first: drop keys whose interval is over (their suppressed count is lost with them,
        # which only happens once more than `max_keys` keys are active at once).
        while self._slots:
            key, slot = next(iter(self._slots.items()))
            if now - slot.last_written < self._interval:
                return
            del self._slots[key]


class RateLimitFilter(logging.Filter):
    """The same limit for a stdlib logger (uvicorn's): a repeated message passes once per interval.

    The key is the logger, level and message template; the next line that passes after a
    suppression says how many were left out.
    """

    def __init__(
        self, *, interval: float = 10.0, max_keys: int = 256, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__()
        self._limit = RateLimitedLog(_Null(), interval=interval, max_keys=max_keys, clock=clock)
        self._held: dict[Hashable, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass the record unless the same message passed less than `interval` ago."""
        key = (record.name, record.levelno, str(record.msg)[:200])
        before = self._limit.suppressed
        passed = self._limit.log("debug", "record", key=key)
        if not passed:
            self._held[key] = self._held.get(key, 0) + (self._limit.suppressed - before)
            if len(self._held) > 1024:
                self._held.clear()
            return False
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like it suppressed)"
            record.args = ()
        return True


class _Null:
    def debug(self, *_args: Any, **_kwargs: Any) -> None:
        return None
