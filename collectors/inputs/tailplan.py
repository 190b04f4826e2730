"""The pure core of the file tail: file identity, committed positions, and record splitting.

Files are followed by identity (device and inode), not by name, as logrotate moves names around:
a renamed file is the same file, a new file at an old name is a new file. A `TailPosition` says
how far a file has been durably consumed. It also keeps the first bytes of the file (`head`), so
a file rewritten in place (copytruncate, then refilled past the old offset before the next look)
or a new file that reuses a freed inode is recognised and read again from the start.

`split_records` cuts bytes read at a position into complete records: lines, or for multi-line
CSV (pgaudit) records whose quotes balance (RFC 4180: a quote inside a quoted field is doubled,
so a record ends at the first newline after an even number of `"`). A partial last record is not
consumed (the next read starts at it again) unless the file is final (rotated away), when it is
flushed as it is. A record longer than the limit is passed on cut to limit + 1 bytes, which the
parser rejects, and the rest of it is skipped (`discarding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from collectors.errors import CollectorError

HEAD_BYTES: Final = 64


class TailStateError(CollectorError, ValueError):
    """The persisted tail state is unreadable; `where` names the entry."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"tail state {where}: {reason}")


@dataclass(frozen=True, order=True)
class FileKey:
    """A file's identity: device and inode."""

    device: int
    inode: int

    def __str__(self) -> str:
        return f"{self.device}:{self.inode}"

    @classmethod
    def parse(cls, text: str) -> FileKey:
        """Read the `device:inode` form written by `str`."""
        device, sep, inode = text.partition(":")
        if not sep or not device.isdigit() or not inode.isdigit():
            raise TailStateError(text[:40], "file key is not 'device:inode'")
        return cls(int(device), int(inode))


@dataclass(frozen=True)
class TailPosition:
    """How far one file has been consumed: `offset` bytes, the next byte being on line `line`.

    `origin` is the path the file had when first seen and `generation` counts restarts after
    truncation; together with the inode they name the file in event ids (`id_source`), so lines
    of a rotated-in or rewritten file never take the ids of the old lines at the same numbers.
    """

    origin: str
    path: str
    offset: int = 0
    line: int = 1
    generation: int = 0
    head: bytes = b""
    discarding: bool = False

    def __post_init__(self) -> None:
        if self.offset < 0 or self.line < 1 or self.generation < 0 or len(self.head) > HEAD_BYTES:
            raise TailStateError(self.path, "offset, line, generation or head out of range")

    def id_source(self, key: FileKey) -> str:
        """The source name given to the parser: stable for this file's lines, across renames."""
        return f"{self.origin}#{key.inode}.{self.generation}"

    def restarted(self) -> TailPosition:
        """The position after truncation: start of the file, next generation."""
        return replace(self, offset=0, line=1, generation=self.generation + 1, head=b"", discarding=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the state file."""
        return {
            "origin": self.origin,
            "path": self.path,
            "offset": self.offset,
            "line": self.line,
            "generation": self.generation,
            "head": self.head.hex(),
            "discarding": self.discarding,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> TailPosition:
        """Validate one entry of the state file."""
        try:
            values = {
                "origin": data["origin"],
                "path": data["path"],
                "offset": data["offset"],
                "line": data["line"],
                "generation": data["generation"],
                "head": bytes.fromhex(data["head"]),
                "discarding": data["discarding"],
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise TailStateError(where, f"missing or malformed field: {exc}") from None
        for name in ("origin", "path"):
            if not isinstance(values[name], str):
                raise TailStateError(where, f"{name} is not a string")
        for name in ("offset", "line", "generation"):
            if not isinstance(values[name], int) or isinstance(values[name], bool):
                raise TailStateError(where, f"{name} is not an integer")
        if not isinstance(values["discarding"], bool):
            raise TailStateError(where, "discarding is not a boolean")
        return cls(**values)


@dataclass(frozen=True)
class Resume:
    """Where to read a file from and why (`reason` is None when simply continuing)."""

    position: TailPosition
    reason: str | None


def resume(known: TailPosition | None, *, path: str, size: int, head: bytes) -> Resume:
    """Decide where to read a file that was just opened, from its committed position if any.

    `head` is the file's first bytes as read now (up to HEAD_BYTES). A file shorter than the
    committed offset was truncated; one whose first bytes changed was rewritten or is a new file
    on a reused inode; both are read again from the start in a new generation.
    """
    if known is None:
        return Resume(TailPosition(origin=path, path=path), "new")
    moved = replace(known, path=path)
    if size < known.offset:
        return Resume(moved.restarted(), "truncated")
    if head[: len(known.head)] != known.head:
        return Resume(moved.restarted(), "rewritten")
    return Resume(moved, None)


def check_open(known: TailPosition, *, size: int, head: bytes) -> Resume:
    """Re-check a file held open: truncated in place, or rewritten past the offset since."""
    if size < known.offset:
        return Resume(known.restarted(), "truncated")
    if head[: len(known.head)] != known.head:
        return Resume(known.restarted(), "rewritten")
    return Resume(known, None)


@dataclass(frozen=True)
class Cut:
    """Records found in a read: (line, raw bytes) each, and the position after them."""

    records: tuple[tuple[int, bytes], ...]
    position: TailPosition


def split_records(
    data: bytes, position: TailPosition, *, multiline: bool, final: bool, max_record: int
) -> Cut:
    """Complete records of `data` (the bytes of the file from `position.offset`)."""
    records: list[tuple[int, bytes]] = []
    offset, line, discarding = 0, position.line, position.discarding
    size = len(data)
    while offset < size:
        if discarding:  # the rest of an oversized record, already passed on cut
            end = data.find(b"\n", offset)
            if end < 0:
                offset = size
                break
            offset, line, discarding = end + 1, line + 1, False
            continue
        start, start_line, quotes, cursor = offset, line, 0, offset
        complete = False
        while True:
            end = data.find(b"\n", cursor)
            if end < 0 or end - start > max_record:
                break
            quotes += data.count(b'"', cursor, end)
            line += 1
            cursor = end + 1
            if not multiline or quotes % 2 == 0:
                complete = True
                break
        if complete:
            raw = data[start : cursor - 1].rstrip(b"\r")
            offset = cursor
            if raw.strip():
                records.append((start_line, raw))
            continue
        line = start_line
        if size - start > max_record:
            records.append((start_line, data[start : start + max_record + 1]))
            offset, discarding = start + max_record + 1, True
            continue
        if final and data[start:].strip():
            records.append((start_line, data[start:].rstrip(b"\r\n")))
            line += data.count(b"\n", start)
            offset = size
        elif final:
            line += data.count(b"\n", start)
            offset = size
        break
    head = position.head
    if len(head) < HEAD_BYTES and position.offset == 0:
        head = data[:HEAD_BYTES]
    return Cut(
        tuple(records),
        replace(position, offset=position.offset + offset, line=line, discarding=discarding, head=head),
    )
