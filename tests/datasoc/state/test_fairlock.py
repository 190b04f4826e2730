"""The state store writers' lock: granted in the order asked, timeouts honoured."""

from __future__ import annotations

import threading
import time

import pytest

from datasoc.state.fairlock import FairLock


def test_a_release_hands_the_lock_to_the_waiter_before_the_releaser_asks_again() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[str] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        assert lock.acquire(timeout=5)
        order.append("waiter")
        lock.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert waiting.wait(5)
    time.sleep(0.05)  # the waiter is queued (it cannot take the lock: it is held)
    lock.release()
    assert lock.acquire(timeout=5)  # a plain Lock would usually be re-taken here first
    order.append("releaser")
    lock.release()
    thread.join(5)
    assert order == ["waiter", "releaser"]


def test_waiters_are_served_first_come_first_served() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    served: list[int] = []
    threads = []

    def take(n: int) -> None:
        assert lock.acquire(timeout=5)
        served.append(n)
        lock.release()

    for n in range(5):
        thread = threading.Thread(target=take, args=(n,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # asked in order 0..4
    lock.release()
    for thread in threads:
        thread.join(5)
    assert served == [0, 1, 2, 3, 4]


def test_a_timed_out_waiter_leaves_the_queue_and_the_lock_stays_usable() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)  # held by "someone else" (this thread, not re-entrant)
    lock.release()
    assert lock.acquire(timeout=0.05)  # nobody queued: free at once
    lock.release()
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
