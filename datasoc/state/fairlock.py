"""A first-come, first-served lock for the state store's writers.

`threading.Lock` is not fair: a thread that releases it and asks again at once usually gets it
back before a waiting thread has even woken. The alert intake, working through a backlog in
batches, took the write lock back-to-back that way while the notifier waited for seconds to record
its sends (`datasoc bench alerts`, 60 s at 2,000/s: deliveries fell to 1,000/s during a backlog).
Here a release hands the lock straight to the longest waiter.
"""

from __future__ import annotations

import threading
from collections import deque


class FairLock:
    """A lock granted in the order it was asked for (`acquire` with a timeout, `release`)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most `timeout` seconds behind earlier askers; False: not taken."""
        with self._guard:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by `release`: the lock is ours
        with self._guard:
            try:
                self._waiters.remove(turn)
            except ValueError:
                return True  # handed over between the timeout and this check: ours after all
            return False

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._guard:
            if not self._held:
                raise RuntimeError("release of a FairLock that is not held")
            if self._waiters:
                self._waiters.popleft().release()  # stays held: ownership passes to that waiter
            else:
                self._held = False
