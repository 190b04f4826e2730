"""File system edge of the ledger: private modes, durable writes, the writer's lock.

Every file the ledger writes (ledger files, tree files, checkpoints, exports) is created 0600 and
every directory 0700, whatever the umask: audit records name people and what they touched.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import BinaryIO, Final

from audit.errors import LedgerLocked, LedgerMissing

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def private_dir(path: Path) -> None:
    """Create `path` (and parents) 0700, or tighten it when it exists."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def open_append(path: Path) -> BinaryIO:
    """Open `path` for appending, creating it 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    return os.fdopen(fd, "ab")


def write_durably(path: Path, data: bytes) -> None:
    """Write `path` (0600) through a temp file, fsync and rename: readers see old or new, never a mix."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def fsync_dir(path: Path) -> None:
    """Make renames and creations in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tighten(root: Path) -> None:
    """Make an existing ledger directory private (0700 directories, 0600 files) in place."""
    for current, dirs, files in os.walk(root):
        os.chmod(current, DIR_MODE)
        for name in files:
            os.chmod(os.path.join(current, name), FILE_MODE)
        del dirs[:0]


def read_file(path: Path) -> bytes:
    """Bytes of a file the ledger needs; `LedgerMissing` names it when absent."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LedgerMissing(f"{path.name} is missing", path=str(path)) from None


def lock(path: Path) -> int:
    """Take the writer's exclusive lock on `path`/LEDGER; `LedgerLocked` when another process has it."""
    fd = os.open(path / "LEDGER", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LedgerLocked(
            "the ledger is open for writing in another process (datasoc run?); "
            "read-only commands (ledger verify, export, search) work beside it",
            path=str(path),
        ) from None
    return fd
