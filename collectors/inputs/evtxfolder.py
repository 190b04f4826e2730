"""`[[collect.evtx]]`: folders of binary `.evtx` files, collected as they appear and as they grow.

One poll looks at every file matching the patterns. A file is identified by device and inode (as
the file tail does). What was delivered from it is kept as the highest `EventRecordID` seen (the
event log numbers records in increasing order, also when a full log wraps around and overwrites
its oldest chunks) and the ordinal of the last record read. A file whose size or modification
time changed since it was last read is read again once it has held still for one poll (so a file
being copied in or written is read when its writer pauses, not half-written), and only records
with a higher id are delivered. A file whose every record id is now below the remembered one was
replaced in place (a new log on a reused inode): it is read again from its start, counted as a
restart.

Delivery is the file tail's: events and dead letters go through the `TransportSink`, the sink is
flushed (fsync'd), and only then the positions are written durably (`data_dir/evtx/<source>.json`,
`{"version": 1, "files": {"<dev>:<inode>": {path, size, mtime_ns, last_record_id,
last_ordinal}}}`). A crash before the commit re-reads the records; their event ids are stable
(computer, channel and record id), so the store keeps one copy. A damaged chunk is dead-lettered
once: a re-read skips failures at ordinals it had already passed.
"""

from __future__ import annotations

import glob
import os
import stat as stat_mod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson

from collectors.errors import ParseError
from collectors.inputs.delivery import HealthRecorder
from collectors.inputs.evtx import WinRecord, iter_evtx
from collectors.inputs.filetail import TailReport
from collectors.inputs.tailplan import FileKey, TailStateError
from collectors.parsers.windows import WindowsEventParser
from collectors.sink import TransportSink
from datasoc.logging import get_logger
from datasoc.transport.offsets import Fsync, write_durably

STATE_VERSION: Final = 1
_log = get_logger(__name__)


@dataclass(frozen=True)
class EvtxPosition:
    """How far one `.evtx` file was delivered, and the size and time it had then."""

    path: str
    size: int
    mtime_ns: int
    last_record_id: int = 0
    last_ordinal: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The state file's form."""
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "last_record_id": self.last_record_id,
            "last_ordinal": self.last_ordinal,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> EvtxPosition:
        """Validated position, `TailStateError` naming `where` otherwise."""
        try:
            path = data["path"]
            numbers = [data[k] for k in ("size", "mtime_ns", "last_record_id", "last_ordinal")]
        except (KeyError, TypeError):
            raise TailStateError(where, "needs path, size, mtime_ns, last_record_id, last_ordinal") from None
        if not isinstance(path, str) or not all(isinstance(n, int) and n >= 0 for n in numbers):
            raise TailStateError(where, "path must be text and the numbers non-negative integers")
        return cls(path, *numbers)


def load_positions(path: Path) -> dict[FileKey, EvtxPosition]:
    """Committed positions (empty when the state file does not exist yet)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise TailStateError(str(path), f"not JSON: {exc}") from None
    if (
        not isinstance(data, dict)
        or data.get("version") != STATE_VERSION
        or not isinstance(data.get("files"), dict)
    ):
        raise TailStateError(str(path), f"expected {{'version': {STATE_VERSION}, 'files': {{...}}}}")
    return {
        FileKey.parse(key): EvtxPosition.from_dict(entry, f"{path}:files[{key}]")
        for key, entry in data["files"].items()
    }


class EvtxFolder:
    """Collects the `.evtx` files matching `patterns` (module docstring); `poll` like `FileTail`."""

    def __init__(
        self,
        patterns: Sequence[str],
        parser: WindowsEventParser,
        sink: TransportSink,
        state_path: Path,
        *,
        source: str,
        fsync: Fsync = os.fsync,
        health: HealthRecorder | None = None,
    ) -> None:
        if not patterns:
            raise ValueError("at least one glob pattern is needed")
        self.patterns = tuple(patterns)
        self.parser = parser
        self.sink = sink
        self.state_path = state_path
        self.source = source
        self._fsync = fsync
        self._health = health
        self._committed = load_positions(state_path)
        self._seen: dict[FileKey, tuple[int, int]] = {}

    def poll(self, *, now: datetime, new_id: Callable[[], str]) -> TailReport:
        """Deliver new records of new and changed files; commit positions once durable."""
        report = TailReport()
        positions = dict(self._committed)
        files = self._scan()
        for key, (path, size, mtime_ns) in sorted(files.items(), key=lambda item: item[1][0]):
            known = positions.get(key)
            signature = (size, mtime_ns)
            if known is not None and (known.size, known.mtime_ns) == signature:
                continue
            if self._seen.get(key) != signature:
                self._seen[key] = signature  # changed since the last look: wait until it holds still
                continue
            positions[key] = self._read(path, key, known, signature, now, new_id, report)
        for key in set(positions) - set(files):
            del positions[key]  # gone: nothing more to read from it
        self._seen = {key: sig for key, sig in self._seen.items() if key in files}
        self.sink.flush(now=now)
        if positions != self._committed:
            body = {
                "version": STATE_VERSION,
                "files": {str(k): p.to_dict() for k, p in sorted(positions.items())},
            }
            write_durably(self.state_path, orjson.dumps(body, option=orjson.OPT_INDENT_2), self._fsync)
            self._committed = positions
        if self._health is not None and (report.accepted or report.rejected):
            self._health.record(
                self.source, now=now, accepted=report.accepted, rejected=report.rejected, bytes_=report.bytes_
            )
        return report

    def close(self) -> None:
        """Nothing is held open between polls."""

    def _scan(self) -> dict[FileKey, tuple[str, int, int]]:
        found: dict[FileKey, tuple[str, int, int]] = {}
        for pattern in self.patterns:
            for name in sorted(glob.glob(pattern)):
                try:
                    info = os.stat(name)
                except OSError:
                    continue
                if stat_mod.S_ISREG(info.st_mode):
                    found.setdefault(
                        FileKey(info.st_dev, info.st_ino), (name, info.st_size, info.st_mtime_ns)
                    )
        return found

    def _read(
        self,
        path: str,
        key: FileKey,
        known: EvtxPosition | None,
        signature: tuple[int, int],
        now: datetime,
        new_id: Callable[[], str],
        report: TailReport,
    ) -> EvtxPosition:
        after = known.last_record_id if known is not None else 0
        passed = known.last_ordinal if known is not None else 0
        best, ordinal = self._deliver(path, after, passed, now, new_id, report)
        if known is not None and best < known.last_record_id:
            # Every record id is below the one delivered: a new log on the same inode.
            _log.warning("evtx.restart", path=path, file=str(key), reason="record ids went back")
            report.truncations += 1
            best, ordinal = self._deliver(path, 0, 0, now, new_id, report)
        report.bytes_ += max(0, signature[0] - (known.size if known is not None else 0))
        return EvtxPosition(
            path, signature[0], signature[1], max(best, after if best >= after else best), ordinal
        )

    def _deliver(
        self, path: str, after: int, passed: int, now: datetime, new_id: Callable[[], str], report: TailReport
    ) -> tuple[int, int]:
        best = ordinal = 0
        for item in iter_evtx(Path(path)):
            if isinstance(item, ParseError):
                if item.position is None or item.position > passed:
                    self._reject(item.position, f"{Path(path).name}: {item.reason}", b"", now, report)
                ordinal = max(ordinal, item.position or 0)  # reported: a re-read passes it silently
                continue
            ordinal = item.position
            if item.record_id is not None:
                best = max(best, item.record_id)
                if item.record_id <= after:
                    continue
            self._parse(item, now, new_id, report)
        return best, ordinal

    def _parse(self, item: WinRecord, now: datetime, new_id: Callable[[], str], report: TailReport) -> None:
        try:
            event = self.parser.parse(
                item.raw, source=self.source, now=now, new_id=new_id, position=item.position
            )
        except ParseError as exc:
            self._reject(item.position, exc.reason, item.raw, now, report)
            return
        self.sink.add_event(event, source=self.source, now=now)
        report.accepted += 1

    def _reject(
        self, position: int | None, reason: str, raw: bytes, now: datetime, report: TailReport
    ) -> None:
        self.sink.add_rejected(
            stage="parse", source=self.source, position=position, reason=reason, raw=raw, now=now
        )
        report.rejected += 1
