"""The state store: migrations per component (versioned, refused when newer), WAL, file modes."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datasoc.state import Migration, MigrationError, StateStore, StateUnavailableError, plan_migrations

NOW = datetime(2026, 12, 1, tzinfo=UTC)
A1 = Migration("alpha", 1, "table", "CREATE TABLE a (x INTEGER) STRICT;")
A2 = Migration(
    "alpha",
    2,
    "trigger",
    "CREATE TRIGGER a_pos BEFORE INSERT ON a WHEN NEW.x < 0 BEGIN SELECT RAISE(ABORT, 'neg'); END;",
)
B1 = Migration("beta", 1, "other component", "CREATE TABLE b (y TEXT) STRICT;")


def test_plan_is_per_component_and_refuses_gaps_and_newer_databases() -> None:
    plans = {p.component: p for p in plan_migrations([A1, A2, B1], {"alpha": 1})}
    assert [m.version for m in plans["alpha"].steps] == [2]
    assert [m.version for m in plans["beta"].steps] == [1]
    with pytest.raises(MigrationError, match=r"versions \[1, 3\] must be 1..2"):
        plan_migrations([A1, A2, B1, Migration("beta", 3, "gap", "SELECT 1;")], {})
    with pytest.raises(MigrationError, match="newer schema"):
        plan_migrations([A1], {"alpha": 2})


def test_migrations_apply_once_in_order_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.sqlite3"
    store = StateStore.open(path)
    assert store.migrate([A1], now=lambda: NOW) == ["alpha/1"]
    assert store.migrate([A1, A2, B1], now=lambda: NOW) == ["alpha/2", "beta/1"]
    assert store.migrate([A1, A2, B1], now=lambda: NOW) == []
    store.close()
    reopened = StateStore.open(path)
    assert reopened.versions() == {"alpha": 2, "beta": 1}
    with pytest.raises(sqlite3.IntegrityError, match="neg"), reopened.write() as conn:
        conn.execute("INSERT INTO a VALUES (-1)")
    with reopened.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 0  # rolled back
    reopened.close()


def test_a_failing_migration_leaves_the_version_unchanged(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "s.sqlite3")
    broken = Migration("alpha", 2, "broken", "CREATE TABLE a (x INTEGER);")  # a exists already
    with pytest.raises(MigrationError, match="alpha/2"):
        store.migrate([A1, broken], now=lambda: NOW)
    assert store.versions() == {"alpha": 1}


def test_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o755)
    store = StateStore.open(root / "state.sqlite3")
    store.migrate([A1], now=lambda: NOW)
    with store.write() as conn:
        conn.execute("INSERT INTO a VALUES (1)")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    store.close()


def test_a_read_only_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    StateStore.open(path).close()
    ro = StateStore(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    ro._local.conn = conn  # a connection that cannot write, as on a read-only mount
    with pytest.raises(StateUnavailableError, match="write"), ro.write() as c:
        c.execute("CREATE TABLE z (x)")


def test_a_write_without_fsync_is_atomic_and_restores_full_sync(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "s.sqlite3")
    store.migrate([A1], now=lambda: NOW)
    with store.write(durable=False) as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL for this commit
        conn.execute("INSERT INTO a VALUES (1)")

    def two_inserts_the_second_refused() -> None:
        with store.write(durable=False) as conn:
            conn.execute("INSERT INTO a VALUES (2)")
            conn.execute("CREATE TRIGGER boom BEFORE INSERT ON a BEGIN SELECT RAISE(ABORT, 'no'); END")
            conn.execute("INSERT INTO a VALUES (3)")

    with pytest.raises(sqlite3.IntegrityError):
        two_inserts_the_second_refused()
    with store.read() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
        assert [r[0] for r in conn.execute("SELECT x FROM a")] == [1]  # the failed one rolled back whole
    store.close()


def test_threads_queue_for_the_write_lock_and_a_long_holder_is_named(tmp_path: Path) -> None:
    """Writers of one process wait on the store's own lock (woken in turn, not polling SQLite's busy
    handler); one kept out past the timeout gets `StateUnavailableError` saying why."""
    import threading

    store = StateStore.open(tmp_path / "state.sqlite3", busy_timeout_s=0.3)
    with store.write() as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    inside, release = threading.Event(), threading.Event()
    errors: list[str] = []

    def holder() -> None:
        with store.write() as conn:
            conn.execute("INSERT INTO t VALUES (0)")
            inside.set()
            release.wait(5)

    def writer(n: int) -> None:
        try:
            with store.write() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (n,))
        except StateUnavailableError as exc:
            errors.append(str(exc))

    first = threading.Thread(target=holder)
    first.start()
    assert inside.wait(5)
    late = threading.Thread(target=writer, args=(1,))
    late.start()
    late.join(5)
    assert len(errors) == 1
    assert "write lock for 0.3 s" in errors[0]
    release.set()
    first.join(5)
    many = [threading.Thread(target=writer, args=(n,)) for n in range(2, 22)]
    for t in many:
        t.start()
    for t in many:
        t.join(10)
    assert len(errors) == 1  # twenty writers in a row all got their turn
    with store.read() as conn:
        assert sorted(r[0] for r in conn.execute("SELECT n FROM t")) == [0, *range(2, 22)]
    store.close()


def test_each_connection_caches_the_configured_pages(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.sqlite3", cache_mib=48)
    seen: list[int] = []

    def look() -> None:
        with store.read() as conn:
            seen.append(conn.execute("PRAGMA cache_size").fetchone()[0])

    look()
    other = threading.Thread(target=look)  # another thread: its own connection, the same cache
    other.start()
    other.join()
    store.close()
    assert seen == [-48 * 1024, -48 * 1024]
    with pytest.raises(ValueError, match="at least 1 MiB"):
        StateStore.open(tmp_path / "other.sqlite3", cache_mib=0)
