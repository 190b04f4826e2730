"""Crash safety: a writer killed with SIGKILL loses no acknowledged record and leaves nothing corrupt."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasoc.transport import Spool

WRITER = Path(__file__).with_name("spool_writer.py")
REPO = Path(__file__).resolve().parents[3]


def _run_and_kill(root: Path, round_no: int, rng: random.Random) -> list[tuple[int, str]]:
    """Start a writer, SIGKILL it after a random number of acks plus a random delay; return the acks."""
    threads = rng.choice([1, 3])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(root), str(round_no), str(rng.randrange(1 << 30)), str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    acks: list[tuple[int, str]] = []
    threshold = rng.randint(50, 3000)
    while len(acks) < threshold:
        line = proc.stdout.readline()
        if not line:
            break
        offset, record_id = line.decode().split()
        acks.append((int(offset), record_id))
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        pytest.fail(f"writer exited early ({proc.returncode}): {err[-2000:]}")
    time.sleep(rng.random() * 0.05)  # land the kill at an arbitrary point of the write/fsync cycle
    proc.send_signal(signal.SIGKILL)
    # Read through the same buffered reader as readline() above: communicate() reads the raw
    # descriptor and would skip what that reader already buffered, starting mid-line.
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == -signal.SIGKILL
    for line in rest.decode().split("\n")[:-1]:  # a line cut by the kill is not counted as an ack
        offset, record_id = line.split()
        acks.append((int(offset), record_id))
    return acks


def _check_payload(payload: bytes) -> str:
    record_id, sep, body = payload.partition(b"|")
    digest = hashlib.sha256(record_id).digest()
    assert sep == b"|"
    assert len(body) % 32 == 0
    assert body == digest * (len(body) // 32), f"damaged payload for {record_id!r}"
    return record_id.decode()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_loses_no_acknowledged_record(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    root = tmp_path / "spool"
    acked: dict[int, str] = {}
    for round_no in range(3):  # each round reopens what the previous kill left, then appends more
        for offset, record_id in _run_and_kill(root, round_no, rng):
            assert acked.setdefault(offset, record_id) == record_id, f"offset {offset} acknowledged twice"

        with Spool.open(root, topics=["events"]) as spool:
            end = spool.range("events").end
            records = spool.read("events", 0, end + 1)
        assert [r.offset for r in records] == list(range(end))
        ids = [_check_payload(r.payload) for r in records]
        assert len(set(ids)) == len(ids), "a record is stored twice"
        by_offset = dict(enumerate(ids))
        for offset, record_id in acked.items():
            assert by_offset.get(offset) == record_id, (
                f"acknowledged record {record_id} lost at offset {offset}"
            )
        # Unacknowledged records are whole or absent: per writer thread, the stored sequence numbers
        # have no holes (a batch is cut only at its end, never in the middle).
        per_writer: dict[str, list[int]] = {}
        for record_id in ids:
            writer, _, seq = record_id.rpartition(".")
            per_writer.setdefault(writer, []).append(int(seq))
        for writer, seqs in per_writer.items():
            assert seqs == list(range(len(seqs))), f"writer {writer} has a gap"
