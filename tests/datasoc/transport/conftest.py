"""Fixtures for the spool tests: a fixed clock and an fsync that counts its calls."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest


class CountingFsync:
    """A real fsync that also counts calls, so tests can see group commit at work."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        with self._lock:
            self.calls += 1
        os.fsync(fd)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def counting_fsync() -> CountingFsync:
    return CountingFsync()
