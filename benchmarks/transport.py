"""Transport benchmark: acknowledged appends and consumer reads per second, spool beside Kafka.

Both sides get the same payloads in the same batches from the same threads, and a batch counts
only once `append` returned (the spool: after fsync; Kafka: after the broker's acknowledgement
with `acks=all`, idempotent producer, and on one broker `flush.messages=1`, an fsync per append).
Then one consumer reads everything back in pages. Not a test: it measures wall-clock time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datasoc.transport import EVENTS, Transport

_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def measure(
    transport: Transport, records: int, record_size: int, batch_size: int, threads: int
) -> dict[str, Any]:
    """Append `records` payloads in batches from `threads` threads, then read them back once."""
    batch = [(b"%012d" % i + b"x" * record_size)[:record_size] for i in range(batch_size)]
    batches = records // batch_size
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for _ in range(index, batches, threads):
                transport.append(EVENTS, batch, now=_NOW)
        except BaseException as exc:  # reported after join: a failure is never a fast result
            errors.append(exc)

    start_offset = transport.range(EVENTS).end
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    append_s = time.perf_counter() - started
    if errors:
        raise errors[0]
    appended = batches * batch_size
    reader = transport.consumer("bench", EVENTS)
    reader.seek(start_offset)
    read = 0
    started = time.perf_counter()
    while read < appended:
        got = reader.poll(5000)
        if not got:
            break
        read += len(got)
    read_s = time.perf_counter() - started
    return {
        "records": appended,
        "record_bytes": record_size,
        "batch": batch_size,
        "threads": threads,
        "append_records_per_s": round(appended / append_s),
        "append_mb_per_s": round(appended * record_size / append_s / 1e6, 1),
        "read_records_per_s": round(read / read_s) if read_s else None,
        "read_back": read,
    }


def bench_spool_side(directory: Path, **kwargs: Any) -> dict[str, Any]:
    """The figures on a fresh spool under `directory`."""
    from datasoc.transport import Spool

    with Spool.open(directory / "spool") as spool:
        return measure(spool, **kwargs)


def bench_kafka_side(bootstrap: str, **kwargs: Any) -> dict[str, Any]:
    """The figures on fresh topics (a random prefix) of the broker at `bootstrap`."""
    import secrets

    from datasoc.transport import KafkaConfig, KafkaTransport

    prefix = f"bench-{secrets.token_hex(4)}."
    with KafkaTransport(KafkaConfig(bootstrap=bootstrap, topic_prefix=prefix, group_prefix=prefix)) as kafka:
        return measure(kafka, **kwargs)
