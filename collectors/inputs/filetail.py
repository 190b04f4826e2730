"""File tail: follow log files matching glob patterns, never losing what was appended to them.

One poll (`FileTail.poll(now=..., new_id=...)`) looks at every file matching the patterns, reads
what was appended since the committed position, parses each complete record, hands events and
rejects to the `TransportSink`, flushes it (the spool append is fsync'd), and only then commits
the new positions to the state file (`datasoc.transport.offsets.write_durably`: temporary file,
fsync, rename, directory fsync). A crash anywhere before the commit makes the next run read the
same records again; their event ids are stable (`TailPosition.id_source` and the line number), so
the replay is removed downstream by `event.id`. Nothing acknowledged is lost.

Rotation (rename and create): files are followed by device and inode (`tailplan`), so a renamed
file is read to its end; its partial last line is flushed once it is rotated away (no longer
matched, or renamed while another file took its name and idle for one poll). The new file at the
old name starts at 0. After a restart, a committed file no longer matched is looked up by inode in
the directory it was last seen in and drained. Truncation (copytruncate): a file shorter than its
offset (or whose first bytes changed) restarts at 0 in a new generation, counted and logged.
Limits: bytes written to a file between logrotate's copy and its truncate are lost by
copytruncate itself; a file deleted while the collector is down cannot be read.
"""

from __future__ import annotations

import glob
import os
import stat as stat_mod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

import orjson

from collectors.errors import ParseError
from collectors.inputs.delivery import HealthRecorder
from collectors.inputs.tailplan import (
    HEAD_BYTES,
    FileKey,
    TailPosition,
    TailStateError,
    check_open,
    resume,
    split_records,
)
from collectors.parsers import Parser
from collectors.parsers.base import MAX_RECORD_BYTES
from collectors.readers import MULTILINE_CSV
from collectors.sink import TransportSink
from datasoc.logging import get_logger
from datasoc.transport.offsets import Fsync, write_durably

STATE_VERSION: Final = 1
_log = get_logger(__name__)


@dataclass
class TailReport:
    """What one poll did: durable events and rejects, bytes consumed, files restarted or lost."""

    accepted: int = 0
    rejected: int = 0
    bytes_: int = 0
    truncations: int = 0
    rotations: int = 0
    lost: list[str] = field(default_factory=list)


@dataclass
class _Open:
    stream: BinaryIO
    position: TailPosition
    rotated: bool = False
    flushed: bool = False
    idle_polls: int = 0


def load_state(path: Path) -> dict[FileKey, TailPosition]:
    """Committed positions from the state file (empty when it does not exist yet)."""
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
    positions: dict[FileKey, TailPosition] = {}
    for key, entry in data["files"].items():
        where = f"{path}:files[{key}]"
        if not isinstance(entry, dict):
            raise TailStateError(where, "entry is not an object")
        positions[FileKey.parse(key)] = TailPosition.from_dict(entry, where)
    return positions


def store_state(path: Path, positions: dict[FileKey, TailPosition], fsync: Fsync) -> None:
    """Durably replace the state file (old or new content after a crash, never a mixture)."""
    body = {"version": STATE_VERSION, "files": {str(k): p.to_dict() for k, p in sorted(positions.items())}}
    write_durably(path, orjson.dumps(body, option=orjson.OPT_INDENT_2), fsync)


class FileTail:
    """Follows the files matching `patterns`, parsing with `parser`, delivering through `sink`."""

    def __init__(
        self,
        patterns: Sequence[str],
        parser: Parser,
        sink: TransportSink,
        state_path: Path,
        *,
        source: str,
        max_read: int = 4 << 20,
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
        self.max_read = max(max_read, MAX_RECORD_BYTES + 2)
        self._fsync = fsync
        self._health = health
        self._multiline = parser.name in MULTILINE_CSV
        self._committed = load_state(state_path)
        self._positions: dict[FileKey, TailPosition] = dict(self._committed)
        self._open: dict[FileKey, _Open] = {}

    # -- the loop ------------------------------------------------------------------------------

    def poll(self, *, now: datetime, new_id: Callable[[], str]) -> TailReport:
        """Read, parse and deliver what was appended; commit positions once it is durable.

        If anything fails (the spool append, the commit), positions fall back to the committed
        ones and the files are closed, so the next poll reads the uncommitted records again.
        """
        try:
            report = self._poll(now, new_id)
        except BaseException:
            self._positions = dict(self._committed)
            self.close()
            raise
        if self._health is not None and (report.accepted or report.rejected or report.bytes_):
            self._health.record(
                self.source, now=now, accepted=report.accepted, rejected=report.rejected, bytes_=report.bytes_
            )
        return report

    def _poll(self, now: datetime, new_id: Callable[[], str]) -> TailReport:
        report = TailReport()
        seen = self._scan()
        self._open_new(seen, report)
        for key, handle in self._open.items():
            if key in seen and seen[key] != handle.position.path:
                handle.rotated = True  # renamed: the writer has moved on to a new file
                handle.position = replace(handle.position, path=seen[key])
        # Rotated and vanished files first, so the old file is finished before the new one starts.
        order = sorted(
            self._open, key=lambda k: (k in seen and not self._open[k].rotated, self._open[k].position.path)
        )
        for key in order:
            handle = self._open[key]
            gone = key not in seen
            self._read(key, handle, final=False, now=now, new_id=new_id, report=report)
            if gone or (handle.rotated and handle.idle_polls > 0 and not handle.flushed):
                # Rotated away and finished: its partial last line will never be completed.
                self._read(key, handle, final=True, now=now, new_id=new_id, report=report)
                handle.flushed = True
                report.rotations += 1
            if gone:
                handle.stream.close()
                del self._open[key]
                self._positions.pop(key, None)
        self.sink.flush(now=now)
        self._commit()
        return report

    def close(self) -> None:
        """Close the files held open (positions are already committed by `poll`)."""
        for handle in self._open.values():
            handle.stream.close()
        self._open.clear()

    # -- edges ---------------------------------------------------------------------------------

    def _scan(self) -> dict[FileKey, str]:
        seen: dict[FileKey, str] = {}
        for pattern in self.patterns:
            for name in sorted(glob.glob(pattern)):
                try:
                    info = os.stat(name)
                except OSError:
                    continue  # vanished between glob and stat
                if stat_mod.S_ISREG(info.st_mode):
                    seen.setdefault(FileKey(info.st_dev, info.st_ino), name)
        return seen

    def _open_new(self, seen: dict[FileKey, str], report: TailReport) -> None:
        for key, name in sorted(seen.items(), key=lambda item: item[1]):
            if key not in self._open:
                self._start(key, name, report)
        # Committed files not matched any more: rotated out of the patterns while we were away.
        for key in sorted(set(self._positions) - set(self._open)):
            known = self._positions[key]
            found = _find_inode(Path(known.path).parent, key)
            if found is None:
                _log.warning("tail.file_lost", path=known.path, file=str(key))
                report.lost.append(known.path)
                self._positions.pop(key)
                continue
            self._start(key, found, report)

    def _start(self, key: FileKey, name: str, report: TailReport) -> bool:
        try:
            stream = open(name, "rb")  # noqa: SIM115 - held open across polls, closed in poll/close
        except OSError as exc:
            _log.warning("tail.open_failed", path=name, error=str(exc))
            return False
        info = os.fstat(stream.fileno())
        if FileKey(info.st_dev, info.st_ino) != key:  # replaced between stat and open
            stream.close()
            return False
        head = os.pread(stream.fileno(), HEAD_BYTES, 0)
        known = self._positions.get(key)
        decision = resume(known, path=name, size=info.st_size, head=head)
        if decision.reason in ("truncated", "rewritten"):
            report.truncations += 1
            _log.warning("tail.restart", path=name, reason=decision.reason)
        self._positions[key] = decision.position
        # Renamed while we were away: the writer has moved on, as with a rotation seen live.
        self._open[key] = _Open(stream, decision.position, rotated=known is not None and known.path != name)
        return True

    def _read(
        self,
        key: FileKey,
        handle: _Open,
        *,
        final: bool,
        now: datetime,
        new_id: Callable[[], str],
        report: TailReport,
    ) -> None:
        fd = handle.stream.fileno()
        decision = check_open(handle.position, size=os.fstat(fd).st_size, head=os.pread(fd, HEAD_BYTES, 0))
        if decision.reason is not None:
            report.truncations += 1
            _log.warning("tail.restart", path=handle.position.path, reason=decision.reason)
        position = decision.position
        grew = False
        while True:
            data = os.pread(fd, self.max_read, position.offset)
            if not data:
                break
            cut = split_records(
                data, position, multiline=self._multiline, final=final, max_record=MAX_RECORD_BYTES
            )
            if cut.position.offset == position.offset:
                break  # only a partial record: wait for its end
            grew = True
            report.bytes_ += cut.position.offset - position.offset
            self._deliver(cut.records, position.id_source(key), now, new_id, report)
            position = cut.position
        handle.idle_polls = 0 if grew else handle.idle_polls + 1
        handle.position = position
        self._positions[key] = position

    def _deliver(
        self,
        records: Sequence[tuple[int, bytes]],
        id_source: str,
        now: datetime,
        new_id: Callable[[], str],
        report: TailReport,
    ) -> None:
        for line, raw in records:
            try:
                event = self.parser.parse(raw, source=id_source, now=now, new_id=new_id, position=line)
            except ParseError as exc:
                self.sink.add_rejected(
                    stage="parse", source=self.source, position=line, reason=str(exc), raw=raw, now=now
                )
                report.rejected += 1
                continue
            self.sink.add_event(event, source=self.source, now=now)
            report.accepted += 1

    def _commit(self) -> None:
        if self._positions != self._committed:
            store_state(self.state_path, self._positions, self._fsync)
            self._committed = dict(self._positions)


def _find_inode(directory: Path, key: FileKey) -> str | None:
    """The path of the file with identity `key` in `directory` (a rename keeps the directory)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            if entry.inode() == key.inode and entry.stat().st_dev == key.device and entry.is_file():
                return entry.path
        except OSError:
            continue
    return None
