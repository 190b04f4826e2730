"""Group commit: appenders on several threads share fsyncs, and every batch gets the right offsets."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from datasoc.transport import Spool, SpoolConfig, TransportClosedError, TransportError


def _run_threads(count: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)


def test_waiting_appenders_are_covered_by_one_shared_fsync(tmp_path: Path, now: datetime) -> None:
    writers = 6
    calls: list[int] = []
    armed = threading.Event()
    holder: dict[str, Spool] = {}

    def gated_fsync(fd: int) -> None:
        if armed.is_set():
            calls.append(fd)
            if len(calls) == 1:
                # The first leader holds its fsync until every other writer has written its batch
                # and is waiting: they must then all be covered by a single second fsync.
                deadline = time.monotonic() + 60
                while holder["spool"].stats("events").batches < writers and time.monotonic() < deadline:
                    time.sleep(0.001)
        os.fsync(fd)

    results: dict[int, list[int]] = {}
    with Spool.open(tmp_path, fsync=gated_fsync) as spool:
        holder["spool"] = spool
        armed.set()

        def write(i: int) -> None:
            results[i] = spool.append("events", [f"w{i}-{k}".encode() for k in range(i + 1)], now=now)

        _run_threads(writers, write)
        stats = spool.stats("events")
        assert stats.batches == writers
        assert stats.data_syncs == 2
        assert len(calls) == 2
        for i, offsets in results.items():
            assert [r.payload for r in spool.read("events", offsets[0], len(offsets))] == [
                f"w{i}-{k}".encode() for k in range(i + 1)
            ]


@pytest.mark.parametrize("segment_bytes", [64 * 1024 * 1024, 2048], ids=["one-segment", "rolling"])
def test_many_threads_get_disjoint_contiguous_offsets(
    tmp_path: Path, now: datetime, segment_bytes: int, counting_fsync: Any
) -> None:
    threads, batches = 8, 60
    acked: dict[int, list[tuple[int, bytes]]] = {}
    with Spool.open(tmp_path, config=SpoolConfig(segment_bytes=segment_bytes), fsync=counting_fsync) as spool:

        def write(i: int) -> None:
            rng = random.Random(i)
            mine: list[tuple[int, bytes]] = []
            for b in range(batches):
                payloads = [f"t{i}-b{b}-r{r}".encode() * rng.randint(1, 5) for r in range(rng.randint(1, 20))]
                offsets = spool.append("events", payloads, now=now)
                assert offsets == list(range(offsets[0], offsets[0] + len(payloads)))
                mine.extend(zip(offsets, payloads, strict=True))
            acked[i] = mine

        _run_threads(threads, write)
        everything = sorted(pair for mine in acked.values() for pair in mine)
        assert [off for off, _ in everything] == list(range(len(everything)))
        stored = spool.read("events", 0, len(everything) + 1)
        assert [(r.offset, r.payload) for r in stored] == everything
        stats = spool.stats("events")
        assert stats.batches == threads * batches
        assert 1 <= stats.data_syncs <= stats.batches
    with Spool.open(tmp_path, config=SpoolConfig(segment_bytes=segment_bytes)) as spool:
        assert spool.repairs == ()
        assert [(r.offset, r.payload) for r in spool.read("events", 0, len(everything) + 1)] == everything


def test_failed_fsync_fails_the_topic_until_reopen(tmp_path: Path, now: datetime) -> None:
    broken = threading.Event()

    def flaky_fsync(fd: int) -> None:
        if broken.is_set():
            raise OSError(5, "Input/output error")
        os.fsync(fd)

    with Spool.open(tmp_path, fsync=flaky_fsync) as spool:
        assert spool.append("events", [b"safe"], now=now) == [0]
        broken.set()
        with pytest.raises(TransportError, match="fsync failed"):
            spool.append("events", [b"unsure"], now=now)
        broken.clear()
        with pytest.raises(TransportClosedError, match="reopen the spool"):
            spool.append("events", [b"refused"], now=now)
        assert spool.append("alerts", [b"other topics still work"], now=now) == [0]
    with Spool.open(tmp_path) as spool:
        # the unacknowledged record may or may not have reached the disk; the acknowledged one has
        assert spool.read("events", 0, 1)[0].payload == b"safe"
        assert [r.payload for r in spool.read("events", 0, 10)][1:] in ([], [b"unsure"])
