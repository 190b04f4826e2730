"""Durable small files: committed consumer offsets and directory entries.

A committed offset is replaced atomically: write a temporary file, fsync it, rename it over the
old one, fsync the directory. After a crash the file holds either the old or the new offset,
never a mixture (POSIX rename(2) atomicity; the directory fsync makes the rename itself durable).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from datasoc.transport.errors import CorruptRecordError

Fsync = Callable[[int], None]
OFFSET_SUFFIX = ".offset"


def fsync_dir(directory: Path, fsync: Fsync) -> None:
    """Make entries created, renamed or removed in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, fsync: Fsync) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent, fsync)


def offset_path(directory: Path, consumer: str) -> Path:
    """Where the committed offset of `consumer` lives inside a topic's consumer directory."""
    return directory / f"{consumer}{OFFSET_SUFFIX}"


def store_offset(path: Path, *, consumer: str, topic: str, offset: int, fsync: Fsync) -> None:
    """Durably record `offset` as the committed offset of `consumer` on `topic`."""
    body = json.dumps({"consumer": consumer, "offset": offset, "topic": topic}, sort_keys=True)
    write_durably(path, body.encode() + b"\n", fsync)


def load_offset(path: Path) -> int | None:
    """The committed offset stored at `path`, or None when nothing was committed yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        offset = json.loads(raw)["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptRecordError(path, 0, f"unreadable committed offset: {exc}") from exc
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise CorruptRecordError(path, 0, f"committed offset {offset!r} is not a non-negative integer")
    return offset


def load_all_offsets(directory: Path) -> dict[str, int]:
    """Committed offsets of every consumer under `directory`, by consumer name."""
    if not directory.is_dir():
        return {}
    found: dict[str, int] = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.endswith(OFFSET_SUFFIX) and not entry.name.startswith("."):
            offset = load_offset(entry)
            if offset is not None:
                found[entry.name.removesuffix(OFFSET_SUFFIX)] = offset
    return found
