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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from datasoc.alert import Alert
from datasoc.errors import EventValidationError
from datasoc.transport import ALERTS, EVENTS, Transport
from detection.stream.alerts import event_time
from detection.stream.rules import RuleChange

_EVENT_FILE = re.compile(r"events-(\d{20})-(\d{20})\.jsonl")
_RULE_FILE = re.compile(r"rules-(\d{12})\.jsonl")


def _write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Hidden temp file, fsync, rename, directory fsync: readers see the whole file or nothing."""
    tmp = directory / f".{name}.tmp"
    target = directory / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, target)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def _line(offset: int, raw: bytes) -> str:
    """`{"o": offset, "t": event time ms, "e": event}`; `o` and `t` first, so the job reads them from
    the head of the line. A payload that is not an event with a valid `@timestamp` is passed on without
    `t`: the job reports it (health `bad_event`), the exporter never drops a record."""
    payload = raw.decode("utf-8", errors="replace")
    try:
        event = json.loads(payload)
        millis = int(event_time(event).timestamp() * 1000)
    except (ValueError, AttributeError, TypeError):
        text = json.dumps(payload) if "\n" in payload or "\r" in payload else payload
        return f'{{"o":{offset},"e":{text}}}\n'
    if "\n" in payload or "\r" in payload:
        payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f'{{"o":{offset},"t":{millis},"e":{payload}}}\n'


class EventExporter:
    """Copies the spool's `events` records to the job's input directory (see module docstring)."""

    def __init__(self, transport: Transport, directory: Path, *, topic: str = EVENTS) -> None:
        self._transport = transport
        self._dir = directory
        self._topic = topic
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        ends = [int(m.group(2)) + 1 for p in directory.iterdir() if (m := _EVENT_FILE.fullmatch(p.name))]
        self.position = max(ends, default=transport.range(topic).start)

    def export(self, max_records: int = 10_000) -> int:
        """Write one file with up to `max_records` new records; returns how many were exported."""
        records = self._transport.read(self._topic, self.position, max_records)
        if not records:
            return 0
        lines = [_line(record.offset, record.payload) for record in records]
        first, last = records[0].offset, records[-1].offset
        _write_atomically(self._dir, f"events-{first:020d}-{last:020d}.jsonl", "".join(lines).encode("utf-8"))
        self.position = last + 1
        return len(records)

    def export_all(self, batch: int = 10_000) -> int:
        """Export everything pending, in files of up to `batch` records."""
        total = 0
        while (n := self.export(batch)) > 0:
            total += n
        return total


@dataclass
class CommitReport:
    """What one `commit_pending` did."""

    files: int = 0
    appended: int = 0
    duplicates: int = 0
    invalid: int = 0


class AlertCommitter:
    """Moves committed alert part files into the `alerts` topic, idempotently (see module docstring)."""

    def __init__(self, transport: Transport, directory: Path, *, topic: str = ALERTS) -> None:
        self._transport = transport
        self._dir = directory
        self._topic = topic
        self.known: set[str] = set()
        self.total = CommitReport()
        start, end = transport.range(topic).start, transport.range(topic).end
        position = start
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
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    alert = Alert.from_dict(json.loads(line), where=f"{path.name}:{number}")
                except (ValueError, EventValidationError):
                    report.invalid += 1  # counted: the job only writes validated alerts
                    continue
                if alert.alert_id in self.known:
                    report.duplicates += 1
                    continue
                self.known.add(alert.alert_id)
                payloads.append(line.encode("utf-8"))
            self._transport.append(self._topic, payloads, now=now)
            path.unlink()
            report.files += 1
            report.appended += len(payloads)
        for name in ("files", "appended", "duplicates", "invalid"):
            setattr(self.total, name, getattr(self.total, name) + getattr(report, name))
        return report


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

    def put_files(self, paths: Iterable[Path]) -> RuleChange:
        """One change putting every rule file under `paths` (keyed by path relative to its root)."""
        from detection.loader import rule_files

        texts: dict[str, str] = {}
        for root in paths:
            for file in rule_files([root]):
                key = str(file.relative_to(root)) if root.is_dir() else file.name
                texts[key] = file.read_text(encoding="utf-8")
        return self.write(put=texts)
