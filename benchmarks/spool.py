"""Spool benchmark: durable appends per second with group commit, against a plain file writer.

Both sides write the same payload bytes in the same batches and fsync before counting a batch as
done: the spool through `Spool.append` from `threads` threads (group commit shares fsyncs between
them), the baseline through one buffered file object on one thread with one fsync per batch. The
ratio says what framing, CRCs and the spool's bookkeeping cost, or what group commit gains.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from datasoc.transport.spool import Spool

_BENCH_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_TOPIC = "bench"


def _payloads(batch_size: int, record_size: int) -> list[bytes]:
    # Distinct payloads per batch position; the content does not matter to the spool.
    return [(b"%012d" % i + b"x" * record_size)[:record_size] for i in range(batch_size)]


def _batch_sizes(records: int, batch_size: int) -> list[int]:
    full, rest = divmod(records, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def _run_spool(
    directory: Path, batches: list[list[bytes]], threads: int, now: datetime
) -> tuple[float, int, int]:
    calls = [0]
    lock = threading.Lock()

    def counting_fsync(fd: int) -> None:
        with lock:
            calls[0] += 1
        os.fsync(fd)

    with Spool.open(directory, topics=[_TOPIC], fsync=counting_fsync) as spool:
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                for batch in batches[index::threads]:
                    spool.append(_TOPIC, batch, now=now)
            except BaseException as exc:  # reported after join, so a failure is never a fast result
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise errors[0]
        stats = spool.stats(_TOPIC)
    return elapsed, stats.data_syncs, stats.bytes


def _run_plain(path: Path, batches: list[list[bytes]]) -> tuple[float, int]:
    fsyncs = 0
    start = time.perf_counter()
    with path.open("wb") as f:
        for batch in batches:
            for payload in batch:
                f.write(payload)
            f.flush()
            os.fsync(f.fileno())
            fsyncs += 1
    return time.perf_counter() - start, fsyncs


def bench_spool(
    directory: Path,
    records: int,
    record_size: int,
    batch_size: int,
    threads: int,
    *,
    repeat: int = 1,
    now: datetime = _BENCH_TIME,
) -> dict[str, float | int]:
    """Measure spool appends/s (group commit) and a plain buffered writer with one fsync per batch.

    With `repeat` > 1 the two writers alternate and the median time of each is reported, which
    steadies the ratio on a shared machine. Works in a fresh sub-directory of `directory` and
    removes it afterwards. The figures depend on the file system under `directory` (a tmpfs makes
    fsync free).
    """
    if min(records, record_size, batch_size, threads, repeat) < 1:
        raise ValueError("records, record_size, batch_size, threads and repeat must all be at least 1")
    template = _payloads(batch_size, record_size)
    batches = [template[:n] for n in _batch_sizes(records, batch_size)]
    spool_runs: list[tuple[float, int, int]] = []
    plain_runs: list[tuple[float, int]] = []
    for run in range(repeat):
        work = directory / f"spool-bench-{os.getpid()}-{run}-{time.monotonic_ns()}"
        work.mkdir(parents=True)
        try:
            spool_runs.append(_run_spool(work / "spool", batches, threads, now))
            plain_runs.append(_run_plain(work / "plain.bin", batches))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    spool_s, spool_fsyncs, spool_bytes = sorted(spool_runs)[len(spool_runs) // 2]
    plain_s, plain_fsyncs = sorted(plain_runs)[len(plain_runs) // 2]
    payload_bytes = records * record_size
    spool_rate = records / spool_s
    plain_rate = records / plain_s
    return {
        "records": records,
        "record_size": record_size,
        "batch_size": batch_size,
        "threads": threads,
        "repeat": repeat,
        "batches": len(batches),
        "payload_bytes": payload_bytes,
        "spool_bytes_on_disk": spool_bytes,
        "spool_seconds": spool_s,
        "spool_records_per_s": spool_rate,
        "spool_mb_per_s": payload_bytes / spool_s / 1e6,
        "spool_fsyncs": spool_fsyncs,
        "spool_records_per_fsync": records / max(spool_fsyncs, 1),
        "plain_seconds": plain_s,
        "plain_records_per_s": plain_rate,
        "plain_mb_per_s": payload_bytes / plain_s / 1e6,
        "plain_fsyncs": plain_fsyncs,
        "ratio_spool_to_plain": spool_rate / plain_rate,
    }
