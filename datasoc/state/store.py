"""The state store: one SQLite file for the platform's service state (accounts, sessions, tokens,
later approvals, alerts and cases), shared by the threads of one process and by CLI processes.

- WAL mode (readers never block the writer), `synchronous=FULL` (a commit is durable when it
  returns: state changes are acknowledged to people), `foreign_keys=ON`, a busy timeout so a CLI
  writing while `datasoc run` writes waits instead of failing.
- One connection per thread (SQLite connections are not shared between threads here); writes
  take `BEGIN IMMEDIATE`, so a transaction that reads then writes never deadlocks on upgrade.
- The threads of one process queue for the write lock on a lock of their own before asking
  SQLite: SQLite's busy handler polls with sleeps that grow to 100 ms, so twenty threads
  contending for it (twenty sign-ins at once) waited tens of milliseconds each for a lock that
  was free most of the time. The busy timeout still covers other processes (the CLI).
- Files 0600 in a 0700 directory: the database holds password hashes and sealed secrets.
- Migrations per component (`datasoc.state.migrations`), applied under the write lock, each with
  its version bump in the same transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from datasoc.logging import get_logger
from datasoc.state.errors import MigrationError, StateUnavailableError
from datasoc.state.fairlock import FairLock
from datasoc.state.migrations import Migration, plan_migrations

log = get_logger("state")
_BUSY_TIMEOUT_MS = 10_000
CACHE_MIB = 64
"""Page cache per connection, MiB (SQLite's default is 2). The alert store's writers insert at
random points of several indexes (group keys, detection ids, observables): once those outgrew
2 MiB, every insert re-read pages and the intake's cost per alert rose with the store
(`datasoc bench alerts`, 60 s at 2,000/s: p99 6.6 s with 2 MiB, 1.6 s with 64). Filled only as
pages are read."""
_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version >= 0),
    applied_at TEXT NOT NULL
) STRICT;
"""


class StateStore:
    """An open state database (see module docstring). Build with `open`."""

    def __init__(
        self, path: Path, *, busy_timeout_s: float = _BUSY_TIMEOUT_MS / 1000, cache_mib: int = CACHE_MIB
    ) -> None:
        """Use `open`; this only records the path, how long a writer waits for the lock and the page
        cache each connection may fill."""
        if cache_mib < 1:
            raise ValueError(f"state store page cache must be at least 1 MiB, not {cache_mib}")
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.cache_mib = cache_mib
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._writer = FairLock()
        self._closed = False

    @classmethod
    def open(
        cls, path: Path, *, busy_timeout_s: float = _BUSY_TIMEOUT_MS / 1000, cache_mib: int = CACHE_MIB
    ) -> StateStore:
        """Open (creating when absent, 0600 in a 0700 directory) and check the database; a writer
        waits at most `busy_timeout_s` for the write lock; each connection caches at most
        `cache_mib` MiB of pages."""
        parent = path.parent
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(parent.stat().st_mode) & 0o077:
            os.chmod(parent, 0o700)
            log.warning("state_dir_tightened", path=str(parent), mode="0700")
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(f"{path}{suffix}")
            if not suffix:
                fd = os.open(candidate, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
            if candidate.exists() and stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                os.chmod(candidate, 0o600)
        store = cls(path, busy_timeout_s=busy_timeout_s, cache_mib=cache_mib)
        with store.write() as conn:
            conn.execute(_BOOTSTRAP)
        return store

    # ---- connections ----

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StateUnavailableError(f"state store {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA cache_size = {-1024 * self.cache_mib}")
        except sqlite3.Error as exc:
            raise StateUnavailableError(f"state store {self.path}: cannot open: {exc}") from None
        self._local.conn = conn
        with self._guard:
            self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`); committed, durably, when the block exits.

        `durable=False` skips the fsync of this commit (`synchronous=NORMAL` for it): the write is
        atomic and survives a crash of the process, but a power loss may undo it until the next
        durable commit. For state whose loss is harmless (a new session, a last-use time), not for
        anything acknowledged as a change. `sqlite3.IntegrityError` (constraints and triggers)
        propagates for the caller to name; other failures become `StateUnavailableError`.
        """
        conn = self._connection()
        if not self._writer.acquire(timeout=self.busy_timeout_s):
            raise StateUnavailableError(
                f"state store {self.path}: cannot write: another thread of this process held the "
                f"write lock for {self.busy_timeout_s:g} s"
            )
        try:
            if not durable:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StateUnavailableError(f"state store {self.path}: cannot write: {exc}") from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StateUnavailableError(f"state store {self.path}: write failed: {exc}") from None
                raise
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous = FULL")
        finally:
            self._writer.release()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for the block."""
        conn = self._connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.OperationalError as exc:
            raise StateUnavailableError(f"state store {self.path}: cannot read: {exc}") from None
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise StateUnavailableError(f"state store {self.path}: read failed: {exc}") from None
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    # ---- migrations ----

    def versions(self) -> dict[str, int]:
        """The schema version each component reached."""
        with self.read() as conn:
            return {row["component"]: row["version"] for row in conn.execute("SELECT * FROM schema_versions")}

    def migrate(self, migrations: Sequence[Migration], *, now: Callable[[], datetime]) -> list[str]:
        """Apply what remains of `migrations` (each step and its version bump in one transaction).

        Returns the applied steps as `component/version`. Safe to call from several processes:
        the plan is recomputed under the write lock.
        """
        applied: list[str] = []
        while True:
            with self.write() as conn:
                recorded = {
                    row["component"]: row["version"] for row in conn.execute("SELECT * FROM schema_versions")
                }
                pending = [p for p in plan_migrations(migrations, recorded) if p.steps]
                if not pending:
                    return applied
                step = pending[0].steps[0]
                try:
                    for statement in _statements(step.sql):
                        conn.execute(statement)
                except sqlite3.Error as exc:
                    raise MigrationError(
                        f"state store {self.path}: migration {step.component}/{step.version} "
                        f"({step.description}) failed: {exc}"
                    ) from None
                conn.execute(
                    "INSERT INTO schema_versions (component, version, applied_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (component) DO UPDATE SET version = excluded.version, "
                    "applied_at = excluded.applied_at",
                    (step.component, step.version, now().isoformat()),
                )
            applied.append(f"{step.component}/{step.version}")
            log.info("state_migrated", component=step.component, version=step.version)

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        with self._guard:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()


def _statements(script: str) -> list[str]:
    """Split a migration script into complete statements (triggers contain inner semicolons)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise MigrationError(f"incomplete SQL statement at the end of a migration: {current.strip()[:80]!r}")
    return statements
