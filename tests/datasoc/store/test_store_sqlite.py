"""What is particular to the SQLite backend: file settings, schema, FTS sync, errors, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datasoc.event import Event
from datasoc.store import (
    CorruptEventError,
    RetentionJob,
    SearchQuery,
    SQLiteEventStore,
    StorageError,
    StoreError,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MakeEvent = Callable[..., Event]


def test_file_store_runs_wal_with_synchronous_normal(tmp_path: Path) -> None:
    with SQLiteEventStore(tmp_path / "events.db") as store:
        assert store.pragmas() == {"journal_mode": "wal", "synchronous": 1, "user_version": 1}
    with SQLiteEventStore(tmp_path / "events.db", synchronous="FULL") as store:
        assert store.pragmas()["synchronous"] == 2


def test_memory_store_works(make_event: MakeEvent) -> None:
    with SQLiteEventStore(":memory:") as store:
        assert store.insert_many([make_event("e1", T0)]) == 1
        store.sync()
        assert store.get("e1") is not None


def test_bad_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="NORMAL or FULL"):
        SQLiteEventStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]


def test_text_index_stays_in_sync_through_replay_and_purge(tmp_path: Path, make_event: MakeEvent) -> None:
    with SQLiteEventStore(tmp_path / "events.db") as store:
        events = [
            make_event(
                f"e{i}",
                T0 - timedelta(days=i),
                {"user.name": f"用户{i}", "log.original": f"第{i}条 导出记录"},
            )
            for i in range(400)
        ]
        store.insert_many(events)
        store.insert_many(events[:100])  # replay: skipped rows must not touch the index
        assert store.text_index_rows() == 400
        store.check_text_index()
        RetentionJob(store, 200, allow_short_retention=True).run(T0)
        assert store.text_index_rows() == 201  # days 0..200: day 200 is exactly at the cutoff, kept
        store.check_text_index()  # raises if the delete trigger removed the wrong tokens
        assert store.count(SearchQuery(start=T0 - 400 * DAY, end=T0 + DAY, text="导出记录")) == 201


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="open failed") as caught:
        SQLiteEventStore(tmp_path / "no" / "such" / "events.db")
    assert "does the directory exist" in str(caught.value)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a database"):
        SQLiteEventStore(path)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    with pytest.raises(StorageError, match="not a datasoc store"):
        SQLiteEventStore(path)


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SQLiteEventStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StorageError, match="schema version 99 is not supported"):
        SQLiteEventStore(path)


def test_stored_events_are_immutable(tmp_path: Path, make_event: MakeEvent) -> None:
    path = tmp_path / "events.db"
    with SQLiteEventStore(path) as store:
        store.insert_many([make_event("e1", T0)])
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE events SET doc = '{}' WHERE id = 'e1'")
    conn.close()


def test_document_edited_outside_datasoc_is_reported(tmp_path: Path, make_event: MakeEvent) -> None:
    path = tmp_path / "events.db"
    with SQLiteEventStore(path) as store:
        store.insert_many([make_event("e1", T0)])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER events_bu")
    conn.execute("""UPDATE events SET doc = json_set(doc, '$."event.outcome"', 'maybe') WHERE id = 'e1'""")
    conn.close()
    with SQLiteEventStore(path) as store, pytest.raises(CorruptEventError, match=r"event e1.*event.outcome"):
        store.get("e1")


def test_shared_between_threads_and_read_by_a_second_store(tmp_path: Path, make_event: MakeEvent) -> None:
    path = tmp_path / "events.db"
    errors: list[BaseException] = []
    with SQLiteEventStore(path) as writer, SQLiteEventStore(path) as reader:

        def insert(worker: int) -> None:
            try:
                for batch in range(10):
                    events = [
                        make_event(f"w{worker}-{batch}-{i}", T0 + timedelta(seconds=batch * 25 + i))
                        for i in range(25)
                    ]
                    assert writer.insert_many(events) == 25
                    reader.count(SearchQuery(start=T0, end=T0 + DAY))
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=insert, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert reader.count(SearchQuery(start=T0, end=T0 + DAY)) == 1000


def test_values_never_reach_sql_text(tmp_path: Path, make_event: MakeEvent) -> None:
    path = tmp_path / "events.db"
    hostile = "x'); DROP TABLE events; --"
    with SQLiteEventStore(path) as store:
        store.insert_many(
            [make_event("e1", T0, {"user.name": hostile, "Image": hostile, "log.original": hostile})]
        )
        for query in (
            SearchQuery.from_dict({"start": T0, "end": T0 + DAY, "where": {"user.name": hostile}}),
            SearchQuery.from_dict({"start": T0, "end": T0 + DAY, "where": {"Image": hostile}}),
            SearchQuery(start=T0, end=T0 + DAY, text="DROP TABLE events"),
        ):
            assert [e.event_id for e in store.search(query).events] == ["e1"]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
    conn.close()
