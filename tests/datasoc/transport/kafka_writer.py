"""Writer process for the Kafka SIGKILL test: appends batches forever, printing each acknowledged record.

Usage: python kafka_writer.py BOOTSTRAP PREFIX ROUND SEED THREADS

After `append` returns it prints one line per record, `<offset> <id>`, and flushes, so every line
the parent reads is a record the broker acknowledged. Payloads are `<id>|` plus a digest.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
from datetime import UTC, datetime

from datasoc.transport.kafka import KafkaConfig, KafkaTransport


def payload_for(record_id: str) -> bytes:
    """The payload the writer stores for `record_id`."""
    return record_id.encode() + b"|" + hashlib.sha256(record_id.encode()).hexdigest().encode()


def main() -> None:
    bootstrap, prefix, round_no, seed, threads = (
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        int(sys.argv[4]),
        int(sys.argv[5]),
    )
    # A fixed clock far behind the broker's: a long retention keeps the records (test_kafka.py).
    config = KafkaConfig(
        bootstrap=bootstrap, topic_prefix=prefix, group_prefix=prefix, retention_hours=24 * 365 * 20
    )
    transport = KafkaTransport(config)
    out_lock = threading.Lock()
    now = datetime(2026, 3, 1, tzinfo=UTC)

    def write(thread: int) -> None:
        rng = random.Random(seed * 1000 + thread)
        seq = 0
        while True:
            ids = [f"{round_no}.{thread}.{seq + k}" for k in range(rng.randint(1, 60))]
            seq += len(ids)
            offsets = transport.append("events", [payload_for(i) for i in ids], now=now)
            lines = "".join(f"{off} {rid}\n" for off, rid in zip(offsets, ids, strict=True))
            with out_lock:
                sys.stdout.write(lines)
                sys.stdout.flush()

    workers = [threading.Thread(target=write, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
