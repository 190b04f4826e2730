"""The platform side of the job: it holds the spool (one process per spool) and talks to the job by files.

Why files: PyFlink 2.x has no Python streaming source (`SourceFunction` is gone, `from_collection` is
bounded) and a custom Java source would need a jar of the project's own. So the process that holds
the spool's lock exports committed `events` records into the job's input directory, which a
continuously monitored `FileSource` reads; its split positions are checkpointed, so the job reads
each file exactly once across failures. The cost: one extra write of each event and the monitor
interval (200 ms) of latency. Kafka replaces this seam in the scale-out mode.

- `EventExporter`: spool `events` -> `events-<first offset>-<last offset>.jsonl`, written as a hidden
  file, fsynced and renamed (FileSource ignores names starting with `.`). The exporter's position
  is the end of the newest file, so a crash between writing and any bookkeeping re-exports nothing.
- `AlertCommitter`: the alert FileSink's part files become visible only when a checkpoint completes;
  each visible file is validated (`Alert.from_dict`), appended to the spool's `alerts` topic and
  deleted. Alert ids already in the topic are skipped (the ids are deterministic), so a crash
  between append and delete duplicates nothing. The service reads only the `alerts` topic, i.e. only
  committed alerts.
- `RuleChangeWriter`: the rule store's changes as files in the rules directory (the broadcast input).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from datasoc.alert import Alert
from datasoc.errors import EventValidationError
from datasoc.transport import ALERTS, DEADLETTER, EVENTS, Transport
from datasoc.transport.deadletter import dead_letter
from datasoc.transport.offsets import write_durably
from detection.stream.batch import BAD_TIME, BATCH_EVENTS, MARKER_KEY, encode_batch, encode_heartbeat
from detection.stream.rules import RuleChange

_EVENT_FILE = re.compile(r"events-(\d{20})-(\d{20})\.jsonl")
_HEARTBEAT_FILE = re.compile(r"heartbeat-(\d{20})-(\d{20})\.jsonl")
_RULE_FILE = re.compile(r"rules-(\d{12})\.jsonl")


def _write_atomically(directory: Path, name: str, data: bytes) -> Path:
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

    def export(self, max_records: int = 10_000) -> int:
        """Write one file with up to `max_records` new records; returns how many were exported."""
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
                chunk, prev=prev, file=name, at=at, genesis=self._genesis and not pointers
            )
            blobs.append(data)
            pointers.append(pointer)
            prev, start, at = chunk[-1][0] + 1, end, at + len(data)
        # The batch file first: a pointer the job can read always names a complete file.
        _write_atomically(self.batches, name, b"".join(blobs))
        _write_atomically(self._dir, name, "".join(pointers).encode("utf-8"))
        self.position, self._genesis = prev, False
        return len(records)

    def export_all(self, batch: int = 10_000) -> int:
        """Export everything pending, in files of up to `batch` records."""
        total = 0
        while (n := self.export(batch)) > 0:
            total += n
        return total

    def heartbeat(self, millis: int) -> None:
        """Move the job's event time to `millis` (ms since the epoch) after everything exported so far."""
        name = f"heartbeat-{self.position:020d}-{max(millis, 0):020d}.jsonl"
        _write_atomically(
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


@dataclass
class CommitReport:
    """What one `commit_pending` did."""

    files: int = 0
    appended: int = 0
    duplicates: int = 0
    invalid: int = 0
    batches: int = 0


class Progress:
    """How far the job has evaluated the events topic, from the committed batch markers (pure).

    `position` is a spool offset: every event before it has been evaluated and its alerts committed
    (None until the chain's start is known). Markers may arrive out of chain order (parallel
    subtasks); the ones after a gap wait in `done` until it is filled.
    """

    def __init__(
        self, position: int | None = None, done: Mapping[int, int] | None = None, time: int = BAD_TIME
    ) -> None:
        self.position = position
        self.done: dict[int, int] = dict(done or {})
        #: The newest batch time among committed markers (END_OF_TIME once a flush is through).
        self.time = time

    def add(self, prev: int, nxt: int, genesis: bool) -> None:
        """Record one evaluated batch `prev..nxt`."""
        if self.position is None:
            if not genesis:
                self.done[prev] = max(nxt, self.done.get(prev, nxt))
                return
            self.position = prev
        if prev > self.position:
            self.done[prev] = max(nxt, self.done.get(prev, nxt))
            return
        self.position = max(self.position, nxt)
        while self.position in self.done:
            following = self.done.pop(self.position)
            if following == self.position:
                break
            self.position = following
        for stale in [p for p in self.done if p < self.position]:
            del self.done[stale]

    def to_json(self) -> str:
        """Persisted form."""
        done = {str(k): v for k, v in self.done.items()}
        return json.dumps({"position": self.position, "done": done, "time": self.time})

    @classmethod
    def from_json(cls, text: str) -> Progress:
        """Inverse of `to_json`."""
        data = json.loads(text)
        return cls(
            data["position"], {int(k): int(v) for k, v in data["done"].items()}, data.get("time", BAD_TIME)
        )


class AlertCommitter:
    """Moves committed alert part files into the `alerts` topic, idempotently (see module docstring).

    Batch markers in the files advance `progress` (kept in `progress_file`, written after the alerts
    are appended, so after a crash it can only be behind). A line that is neither is dead-lettered.
    """

    def __init__(
        self,
        transport: Transport,
        directory: Path,
        *,
        topic: str = ALERTS,
        progress_file: Path | None = None,
        start: int | None = None,
    ) -> None:
        self._transport = transport
        self._dir = directory
        self._topic = topic
        self._progress_file = progress_file
        self.known: set[str] = set()
        self.total = CommitReport()
        if progress_file is not None and progress_file.exists():
            self.progress = Progress.from_json(progress_file.read_text(encoding="utf-8"))
        else:
            self.progress = Progress(start)
        first, end = transport.range(topic).start, transport.range(topic).end
        position = first
        while position < end:
            batch = transport.read(topic, position, 10_000)
            for record in batch:
                alert_id = json.loads(record.payload).get("alert.id")
                if isinstance(alert_id, str):
                    self.known.add(alert_id)
            position = batch[-1].offset + 1 if batch else end

    def committed_files(self) -> list[Path]:
        """Visible (checkpoint-committed) part files; in-progress files are hidden (leading dot)."""
        if not self._dir.is_dir():
            return []
        return sorted(p for p in self._dir.iterdir() if p.is_file() and not p.name.startswith("."))

    def commit_pending(self, *, now: datetime) -> CommitReport:
        """Append the alerts of every committed part file to the topic, then delete the file."""
        report = CommitReport()
        for path in self.committed_files():
            payloads: list[bytes] = []
            rejected: list[bytes] = []
            markers: list[dict[str, int]] = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and MARKER_KEY in data:
                        markers.append(data[MARKER_KEY])
                        continue
                    alert = Alert.from_dict(data, where=f"{path.name}:{number}")
                except (ValueError, EventValidationError) as exc:
                    report.invalid += 1  # kept: the job should only write validated alerts
                    rejected.append(
                        dead_letter(
                            stage="alerts",
                            source=path.name,
                            position=number,
                            reason=str(exc)[:500],
                            raw=line.encode("utf-8"),
                            received_at=now,
                        )
                    )
                    continue
                if alert.alert_id in self.known:
                    report.duplicates += 1
                    continue
                self.known.add(alert.alert_id)
                payloads.append(line.encode("utf-8"))
            self._transport.append(self._topic, payloads, now=now)
            if rejected:
                self._transport.append(DEADLETTER, rejected, now=now)
            for marker in markers:
                self.progress.add(int(marker["p"]), int(marker["n"]), bool(marker.get("g")))
                self.progress.time = max(self.progress.time, int(marker.get("t", BAD_TIME)))
            report.batches += len(markers)
            if markers and self._progress_file is not None:
                _write_atomically(
                    self._progress_file.parent, self._progress_file.name, self.progress.to_json().encode()
                )
            path.unlink()
            report.files += 1
            report.appended += len(payloads)
        for name in ("files", "appended", "duplicates", "invalid", "batches"):
            setattr(self.total, name, getattr(self.total, name) + getattr(report, name))
        return report


class HealthReader:
    """Reads the job's committed health files (then deletes them): rule changes, rule health, bad input."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def read(self) -> list[dict[str, object]]:
        """Every record of the committed files, oldest file first; unreadable lines come back as
        `{"kind": "unreadable", "line": ...}` rather than being dropped."""
        records: list[dict[str, object]] = []
        if not self._dir.is_dir():
            return records
        for path in sorted(p for p in self._dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                records.append(
                    record if isinstance(record, dict) else {"kind": "unreadable", "line": line[:500]}
                )
            path.unlink()
        return records


class RuleChangeWriter:
    """Writes rule changes as numbered files into the job's rules directory (its broadcast input)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        versions = [int(m.group(1)) for p in directory.iterdir() if (m := _RULE_FILE.fullmatch(p.name))]
        self.version = max(versions, default=0)

    def write(self, put: Mapping[str, str] | None = None, disable: Iterable[str] = ()) -> RuleChange:
        """Write the next change (version = previous + 1) and return it."""
        change = RuleChange(version=self.version + 1, put=dict(put or {}), disable=tuple(disable))
        _write_atomically(self._dir, f"rules-{change.version:012d}.jsonl", (change.to_json() + "\n").encode())
        self.version = change.version
        return change
