"""Writer process for the SIGKILL test: appends batches forever and prints each acknowledged record.

Usage: python spool_writer.py ROOT ROUND SEED THREADS

After `append` returns, it prints one line per record, `<offset> <id>`, and flushes, so every
line the parent reads is a record the spool acknowledged. Payload: `<id>|` followed by the SHA-256
of the id repeated a few times, so the parent can tell an intact payload from a damaged one.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
from datetime import UTC, datetime

from datasoc.transport import Spool, SpoolConfig


def payload_for(record_id: str, repeat: int) -> bytes:
    """The payload the writer stores for `record_id`."""
    return record_id.encode() + b"|" + hashlib.sha256(record_id.encode()).digest() * repeat


def main() -> None:
    root, round_no, seed, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    spool = Spool.open(root, topics=["events"], config=SpoolConfig(segment_bytes=64 * 1024))
    out_lock = threading.Lock()
    now = datetime(2026, 3, 1, tzinfo=UTC)

    def write(thread: int) -> None:
        rng = random.Random(seed * 1000 + thread)
        seq = 0
        while True:
            ids = [f"{round_no}.{thread}.{seq + k}" for k in range(rng.randint(1, 60))]
            seq += len(ids)
            offsets = spool.append("events", [payload_for(i, rng.randint(0, 30)) for i in ids], now=now)
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
