"""Spool events to the job's input directory: batch files and the pointer lines that name them.

Why files: PyFlink 2.x has no Python streaming source (`SourceFunction` is gone, `from_collection` is
bounded) and a custom Java source would need a jar of the project's own. So the process that holds
the spool's lock exports committed `events` records into the job's input directory, which a
continuously monitored `FileSource` reads; its split positions are checkpointed, so the job reads
each file exactly once across failures. The cost: one extra write of each event and the monitor
interval (200 ms) of latency. Kafka replaces this seam in the scale-out mode.

`events-<prev>-<next>.jsonl` holds the pointer lines of the batches chained from spool position `prev`
to `next` (`detection.stream.batch`); the records themselves go to the file of the same name in the
batches directory, written first. Both are written as hidden files, fsynced and renamed (FileSource
ignores names starting with `.`). The exporter's position is the end of the newest file, so a crash
between writing and any bookkeeping re-exports nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from datasoc.transport import EVENTS, Transport
from datasoc.transport.offsets import write_durably
from detection.stream.batch import BATCH_EVENTS, encode_batch, encode_heartbeat

_EVENT_FILE = re.compile(r"events-(\d{20})-(\d{20})\.jsonl")
_HEARTBEAT_FILE = re.compile(r"heartbeat-(\d{20})-(\d{20})\.jsonl")


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Readers see the whole file or nothing: the kernel's hidden temp file, fsync, rename, directory
    fsync (`FileSource` skips names starting with a dot)."""
    target = directory / name
    write_durably(target, data, os.fsync)
    return target


def _contiguous_end(records: Sequence[tuple[int, bytes]], start: int, limit: int) -> int:
    """The end (exclusive, at most `limit`) of the run of consecutive offsets from `records[start]`.
    Offsets increase, so a run whose last offset is `start`'s plus its length has no gap."""
    first = records[start][0]
    if records[limit - 1][0] - first == limit - 1 - start:
        return limit
    end = start + 1
    while end < limit and records[end][0] == first + end - start:
        end += 1
    return end


class EventExporter:
    """Copies the spool's `events` records to the job's input directory (see module docstring).

    A file `events-<prev>-<next>.jsonl` holds batch lines (`detection.stream.batch`) chained from spool
    position `prev` to `next`; `heartbeat-<position>-<ms>.jsonl` moves event time while the input is
    idle. The first line ever written to an empty directory is the chain's genesis.
    """

    def __init__(
        self,
        transport: Transport,
        directory: Path,
        *,
        batches: Path | None = None,
        topic: str = EVENTS,
        batch_events: int = BATCH_EVENTS,
    ) -> None:
        self._transport = transport
        self._dir = directory
        self.batches = batches or directory.with_name(directory.name + "-batches")
        self.batches.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._topic = topic
        self._batch = batch_events
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = self.files()
        self._genesis = not found
        ends = [int(m.group(2)) for p in found if (m := _EVENT_FILE.fullmatch(p.name))]
        self.position = max(ends, default=transport.range(topic).start)

    def files(self) -> list[Path]:
        """Event and heartbeat files present, oldest position first."""
        named = [
            p
            for p in self._dir.iterdir()
            if _EVENT_FILE.fullmatch(p.name) or _HEARTBEAT_FILE.fullmatch(p.name)
        ]
        return sorted(named, key=lambda p: (int(p.name.split("-")[1]), p.name.startswith("events")))

    def export(self, max_records: int = 10_000, *, grants_version: int | None = None) -> int:
        """Write one file with up to `max_records` new records; returns how many were exported. With
        `grants_version`, each pointer names the grant changes its events must be judged with (`gv`)."""
        records = self._transport.read_payloads(self._topic, self.position, max_records)
        if not records:
            return 0
        name = f"events-{self.position:020d}-{records[-1][0] + 1:020d}.jsonl"
        blobs: list[bytes] = []
        pointers: list[str] = []
        prev, start, at = self.position, 0, 0
        while start < len(records):
            # A batch ends at its size limit, at the end, or where offsets jump (retention, a gap).
            end = _contiguous_end(records, start, min(start + self._batch, len(records)))
            chunk = records[start:end]
            data, pointer = encode_batch(
                chunk,
                prev=prev,
                file=name,
                at=at,
                genesis=self._genesis and not pointers,
                grants_version=grants_version,
            )
            blobs.append(data)
            pointers.append(pointer)
            prev, start, at = chunk[-1][0] + 1, end, at + len(data)
        # The batch file first: a pointer the job can read always names a complete file.
        write_atomically(self.batches, name, b"".join(blobs))
        write_atomically(self._dir, name, "".join(pointers).encode("utf-8"))
        self.position, self._genesis = prev, False
        return len(records)

    def export_all(self, batch: int = 10_000, *, grants_version: int | None = None) -> int:
        """Export everything pending, in files of up to `batch` records."""
        total = 0
        while (n := self.export(batch, grants_version=grants_version)) > 0:
            total += n
        return total

    def heartbeat(self, millis: int) -> None:
        """Move the job's event time to `millis` (ms since the epoch) after everything exported so far."""
        name = f"heartbeat-{self.position:020d}-{max(millis, 0):020d}.jsonl"
        write_atomically(
            self._dir, name, encode_heartbeat(self.position, millis, genesis=self._genesis).encode()
        )
        self._genesis = False

    def clean(self, progress: int, *, now: datetime, grace: timedelta) -> int:
        """Delete files the job has evaluated and committed (everything before `progress`) once they are
        older than `grace` (many checkpoints: a restore must never miss a file its state still names).
        The newest events file is kept (the exporter's position is read from it after a restart), and so
        is the newest heartbeat unless the job has passed it."""
        found = self.files()
        newest = max((p for p in found if p.name.startswith("events")), key=lambda p: p.name, default=None)
        beats = [p for p in found if p.name.startswith("heartbeat")]
        latest_beat = max(beats, key=lambda p: int(p.name.split("-")[2].split(".")[0]), default=None)
        removed = 0
        for path in found:
            if path.name.startswith("events"):
                done = path != newest and int(path.name.split("-")[2].split(".")[0]) <= progress
            else:  # a heartbeat only moves time: a newer one supersedes it
                done = int(path.name.split("-")[1]) < progress or path != latest_beat
            if not done:
                continue
            if now.timestamp() - path.stat().st_mtime < grace.total_seconds():
                continue
            path.unlink()
            (self.batches / path.name).unlink(missing_ok=True)
            removed += 1
        return removed
