"""The job's committed output into the platform: alerts into the spool, progress from batch markers,
health records folded for the operator.

The alert FileSink's part files become visible only when a checkpoint completes. `AlertCommitter`
reads each visible file once, appends its alert lines to the spool's `alerts` topic unless the id is
there already (ids are deterministic, so a crash between append and delete duplicates nothing), and
deletes it. The service reads only the `alerts` topic, i.e. only committed alerts. An alert line is
decoded once here and checked for its shape; its content was validated once, by the job's alert
builder (`detection.alerts`). Markers advance `Progress`; anything else is dead-lettered.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from datasoc.alert import WARNING_LEVELS
from datasoc.transport import ALERTS, DEADLETTER, Transport
from datasoc.transport.deadletter import dead_letter
from detection.stream.batch import BAD_TIME, MARKER_KEY, BatchMarker
from soc_api.stream.exporter import write_atomically

_ALERT_ID = re.compile(r"al-[0-9a-f]{32}")


@dataclass
class CommitReport:
    """What one `commit_pending` did (or all of them: `AlertCommitter.total`)."""

    files: int = 0
    appended: int = 0
    duplicates: int = 0
    invalid: int = 0
    batches: int = 0
    #: Appended alerts by warning level.
    by_level: Counter[str] = field(default_factory=Counter)

    def add(self, other: CommitReport) -> None:
        """Add `other`'s counts to these."""
        self.files += other.files
        self.appended += other.appended
        self.duplicates += other.duplicates
        self.invalid += other.invalid
        self.batches += other.batches
        self.by_level.update(other.by_level)


class Progress:
    """How far the job has evaluated the events topic, from the committed batch markers (pure).

    `position` is a spool offset: every event before it has been evaluated and its alerts committed
    (None until the chain's start is known). A batch counts once every lane's marker of it is in
    (`waiting` holds the lanes seen of the others). Markers may arrive out of chain order; the batches
    after a gap wait in `done` until it is filled.
    """

    def __init__(
        self,
        position: int | None = None,
        done: Mapping[int, int] | None = None,
        time: int = BAD_TIME,
        waiting: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        self.position = position
        self.done: dict[int, int] = dict(done or {})
        #: The newest batch time among complete batches (END_OF_TIME once a flush is through).
        self.time = time
        self.waiting: dict[str, set[int]] = {k: set(v) for k, v in (waiting or {}).items()}

    def mark(self, marker: BatchMarker) -> None:
        """Record one lane's marker; the batch counts once all its lanes' markers are in."""
        if marker.lanes > 1:
            if self.position is not None and marker.prev < self.position:
                return  # a re-read marker of a batch counted already
            span = f"{marker.prev}:{marker.next}"
            lanes = self.waiting.setdefault(span, set())
            lanes.add(marker.lane)
            if len(lanes) < marker.lanes:
                return
            del self.waiting[span]
        self.add(marker.prev, marker.next, marker.genesis)
        self.time = max(self.time, marker.time)

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
        for span in [s for s in self.waiting if int(s.split(":")[0]) < self.position]:
            del self.waiting[span]  # a re-read marker of a batch counted already

    def to_json(self) -> str:
        """Persisted form."""
        done = {str(k): v for k, v in self.done.items()}
        waiting = {k: sorted(v) for k, v in self.waiting.items()}
        return json.dumps({"position": self.position, "done": done, "time": self.time, "waiting": waiting})

    @classmethod
    def from_json(cls, text: str) -> Progress:
        """Inverse of `to_json`."""
        data = json.loads(text)
        done = {int(k): int(v) for k, v in data["done"].items()}
        return cls(data["position"], done, data.get("time", BAD_TIME), data.get("waiting"))


def _alert_shape(data: Any) -> str | None:
    """What is wrong with the shape of a decoded alert line, None when it is an alert's."""
    if not isinstance(data, dict):
        return "not a JSON object"
    alert_id = data.get("alert.id")
    if not isinstance(alert_id, str) or not _ALERT_ID.fullmatch(alert_id):
        return f"alert.id {alert_id!r:.80} is not al- and 32 hex digits"
    if data.get("warning_level") not in WARNING_LEVELS:
        return f"warning_level {data.get('warning_level')!r:.40} is not one of {list(WARNING_LEVELS)}"
    if not isinstance(data.get("rule.id"), str) or not isinstance(data.get("event_ids"), list):
        return "rule.id must be a string and event_ids a list"
    return None


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
            markers: list[BatchMarker] = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if isinstance(data, dict) and MARKER_KEY in data:
                        markers.append(BatchMarker.from_dict(data[MARKER_KEY]))
                        continue
                    problem = _alert_shape(data)
                except ValueError as exc:
                    problem = str(exc)
                if problem is not None:
                    report.invalid += 1  # kept: the job should only write validated alerts
                    where = f"{path.name}:{number}: {problem}"
                    rejected.append(
                        dead_letter(
                            stage="alerts",
                            source=path.name,
                            position=number,
                            reason=where[:500],
                            raw=line.encode("utf-8"),
                            received_at=now,
                        )
                    )
                    continue
                if data["alert.id"] in self.known:
                    report.duplicates += 1
                    continue
                self.known.add(data["alert.id"])
                report.by_level[data["warning_level"]] += 1
                payloads.append(line.encode("utf-8"))
            self._transport.append(self._topic, payloads, now=now)
            if rejected:
                self._transport.append(DEADLETTER, rejected, now=now)
            for marker in markers:
                self.progress.mark(marker)
            report.batches += len(markers)
            if markers and self._progress_file is not None:
                data = self.progress.to_json().encode()
                write_atomically(self._progress_file.parent, self._progress_file.name, data)
            path.unlink()
            report.files += 1
            report.appended += len(payloads)
        self.total.add(report)
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
