"""SQLite implementation of `EventStore`: the embedded default (one file, WAL, FTS5).

Schema (version 1, in `PRAGMA user_version`):
- `events(seq, id, ts, doc, ...)`: `seq` is an INTEGER PRIMARY KEY AUTOINCREMENT, the rowid the
  full-text index points at: VACUUM never renumbers it and a deleted one is never reused, so a
  stale index entry can never attach to another event; `id` (`event.id`) is UNIQUE and is the
  dedup key; `ts` is `@timestamp` in integer microseconds since the Unix epoch (exact, compact,
  sortable); `doc` is the event's wire form as compact JSON with sorted keys. (Not RFC 8785: that
  encoder costs twice as much, 50 against 25 us an event, and `Event.canonical()` of the loaded
  event gives the ledger's bytes back exactly, since JSON round-trips every value losslessly.)
- VIRTUAL generated columns for the hot fields (`_HOT_COLUMNS`), each indexed as
  `(column, ts, id)` so a filter plus "newest first" is a single index walk with no sort.
  Other fields are filtered with `json_each(doc, ?)`, the JSON path bound as a parameter.
- `events_fts`: a *contentless* FTS5 table with the `trigram` tokenizer over the event's string
  values (`log.original` included), one per line (the view `events_text`).
  Why contentless: that text is derived from `doc`; storing it again would double the file, and
  an external-content table would need it as a real column or a view (FTS5 cannot read a view
  whose column is computed with `json_each`).
  Why trigram: the default `unicode61` tokenizer does not segment Chinese (a whole run of Han
  characters is one token), whereas trigram gives substring search in any script. Terms shorter
  than three characters (common in Chinese, e.g. "导出") have no trigram, so they are matched by
  scanning the string values of the rows already narrowed by time and filters.
  Why no triggers: the store keeps the index in sync itself, inside the same transaction, with
  one set-based statement per batch (`INSERT ... SELECT` after the insert; `'delete'` rows
  before a purge, reading the same view over the same `doc`, as a contentless delete
  requires). Per-row triggers were measured 5x slower (2,500 against 13,000 events/s) because FTS5
  flushes its pending terms at every statement savepoint, i.e. once per row. The price: a row
  written to `events` by another program is not indexed (it is still found by filters).

Durability: WAL with `synchronous=NORMAL`. A commit is then not fsynced until the next
checkpoint, so a power cut can lose the last transactions but never corrupts the file; that is
acceptable because the store is rebuilt from the durable spool, and `insert_many` is idempotent
so replaying is safe. Call `sync()` (a full checkpoint, which fsyncs) before committing a spool
offset past events you inserted, or open with `synchronous="FULL"` to fsync every commit.

Thread safety: one connection per store, every call holds the store's lock, so a store may be
shared between threads (calls are serialized). For parallel reads, open a second store on the same
file: WAL lets readers proceed while one writer commits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from datasoc.errors import EventValidationError
from datasoc.event import Event
from datasoc.store.base import EncodedEvent, EventStore, InsertResult
from datasoc.store.errors import (
    CorruptEventError,
    QueryError,
    StorageError,
    StoreClosedError,
    StoreError,
)
from datasoc.store.query import (
    EPOCH,
    Bucket,
    FieldFilter,
    Scalar,
    SearchPage,
    SearchQuery,
    check_buckets,
    check_time,
    decode_cursor,
    encode_cursor,
    filters_of,
    from_micros,
    to_micros,
)

SCHEMA_VERSION: Final = 1
MIN_SQLITE: Final = (3, 38, 0)  # built-in JSON functions (3.38), STRICT tables (3.37), trigram (3.34)
PURGE_BATCH: Final = 10_000

# Field name -> column. Only these literal column names ever appear in SQL text.
_HOT_COLUMNS: Final[dict[str, str]] = {
    "event.id": "id",
    "event.action": "action",
    "user.name": "user_name",
    "data.asset.id": "asset_id",
    "data.classification": "classification",
    "observer.collector": "collector",
    "event.dataset": "dataset",
}
_GENERATED = {field: column for field, column in _HOT_COLUMNS.items() if column != "id"}

# The text the FTS index holds, defined once as the view `events_text`: every string value of
# the event, one per line. Index and un-index both read it, because a contentless delete must be
# given exactly the text that was inserted (json_each walks the stored `doc` in its fixed order).
_TEXT_VIEW = (
    "CREATE VIEW events_text (seq, body) AS SELECT seq,"
    " (SELECT group_concat(j.value, char(10)) FROM json_each(events.doc) AS j WHERE j.type = 'text')"
    " FROM events"
)
_INDEX_NEW = "INSERT INTO events_fts (rowid, body) SELECT seq, body FROM events_text WHERE seq > ?"
_UNINDEX = (
    "INSERT INTO events_fts (events_fts, rowid, body)"
    " SELECT 'delete', seq, body FROM events_text WHERE seq IN (SELECT value FROM json_each(?))"
)
_DELETE = "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))"

_COLUMNS = ",\n".join(
    f"    {column} TEXT GENERATED ALWAYS AS (json_extract(doc, '$.\"{field}\"')) VIRTUAL"
    for field, column in _GENERATED.items()
)

# One statement per item (trigger bodies included), run one by one inside the transaction that
# checked `user_version`: `executescript` would commit that transaction first.
_SCHEMA: Final[tuple[str, ...]] = (
    "CREATE TABLE events (\n"
    "    seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    id TEXT NOT NULL UNIQUE,\n"
    "    ts INTEGER NOT NULL,\n"
    f"    doc TEXT NOT NULL,\n{_COLUMNS}\n) STRICT",
    "CREATE INDEX events_ts ON events (ts, id)",
    *(f"CREATE INDEX events_{column} ON events ({column}, ts, id)" for column in _GENERATED.values()),
    "CREATE VIRTUAL TABLE events_fts USING fts5(body, content='', tokenize='trigram')",
    _TEXT_VIEW,
    "CREATE TRIGGER events_bu BEFORE UPDATE ON events BEGIN\n"
    "    SELECT RAISE(ABORT, 'events are immutable; purge through the retention job');\nEND",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TRIGRAM = 3


def _json_path(field: str) -> str:
    # The field matched FIELD_NAME_RE (no quote, backslash or `$`), and the path is bound as a
    # parameter, so neither SQL nor the JSON path language can be injected.
    return f'$."{field}"'


def _filter_sql(item: FieldFilter) -> tuple[str, list[Any]]:
    """SQL condition and parameters for one filter; values are always bound."""
    column = _HOT_COLUMNS.get(item.field)
    values = list(item.values)
    if column is not None:
        if item.op == "prefix":
            prefix = str(values[0])
            return f"({column} >= ? AND substr({column}, 1, ?) = ?)", [prefix, len(prefix), prefix]
        return f"{column} IN ({', '.join('?' * len(values))})", values
    if item.op == "prefix":
        prefix = str(values[0])
        condition, params = "j.type = 'text' AND substr(j.value, 1, ?) = ?", [len(prefix), prefix]
    else:
        # Typed equality: JSON true is 1 inside SQLite, so booleans are matched on the JSON type
        # and other values only against strings and numbers.
        parts: list[str] = []
        params = []
        plain = [value for value in values if not isinstance(value, bool)]
        if plain:
            parts.append(
                f"(j.type IN ('text', 'integer', 'real') AND j.value IN ({', '.join('?' * len(plain))}))"
            )
            params.extend(plain)
        parts.extend(
            f"j.type = '{'true' if value else 'false'}'" for value in values if isinstance(value, bool)
        )
        condition = " OR ".join(parts)
    # `condition` is built above from literals and `?` placeholders only.
    sql = "EXISTS (SELECT 1 FROM json_each(events.doc, ?) AS j WHERE " + condition + ")"  # noqa: S608
    return sql, [_json_path(item.field), *params]


def _text_sql(terms: Sequence[str]) -> tuple[list[str], list[Any]]:
    """Conditions for full-text terms: FTS5 trigram MATCH for long terms, a scan for short ones."""
    conditions: list[str] = []
    params: list[Any] = []
    long_terms = [term for term in terms if len(term) >= _TRIGRAM]
    if long_terms:
        # Each term becomes an FTS5 string ("..." with quotes doubled), so no FTS5 operator,
        # column filter or prefix syntax in user text is ever interpreted.
        match = " ".join('"' + term.replace('"', '""') + '"' for term in long_terms)
        conditions.append("seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)")
        params.append(match)
    for term in terms:
        if len(term) < _TRIGRAM:
            conditions.append(
                "EXISTS (SELECT 1 FROM json_each(events.doc) AS t"
                " WHERE t.type = 'text' AND instr(lower(t.value), ?) > 0)"
            )
            params.append(term.translate(_ASCII_LOWER))
    return conditions, params


def _select(columns: str, source: str, conditions: Sequence[str], tail: str = "") -> str:
    """Assemble a SELECT from fragments written in this module.

    Every fragment is a literal of this file or a hot column name from `_HOT_COLUMNS`; anything
    that comes from a caller (values, JSON paths, FTS strings, cursor keys) is a bound `?`.
    """
    return f"SELECT {columns} FROM {source} WHERE {' AND '.join(conditions)} {tail}"  # noqa: S608


def _where(
    start_us: int, end_us: int, filters: Sequence[FieldFilter], terms: Sequence[str]
) -> tuple[list[str], list[Any]]:
    conditions = ["ts >= ?", "ts < ?"]
    params: list[Any] = [start_us, end_us]
    for item in filters:
        sql, values = _filter_sql(item)
        conditions.append(sql)
        params.extend(values)
    text_conditions, text_params = _text_sql(terms)
    return conditions + text_conditions, params + text_params


class SQLiteEventStore(EventStore):
    """`EventStore` on one SQLite file (or `":memory:"`); see the module docstring for the design."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self._location = os.fspath(path)
        if synchronous not in ("NORMAL", "FULL"):
            raise StoreError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(
                self._location,
                "open",
                f"SQLite {sqlite3.sqlite_version} is too old",
                hint=f"datasoc needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer",
            )
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(
                self._location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StorageError(self._location, "open", str(exc), hint="does the directory exist?") from None
        self._conn: sqlite3.Connection | None = conn
        try:
            with self._guard("open"):
                self._prepare(conn, synchronous)
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def _prepare(self, conn: sqlite3.Connection, synchronous: str) -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal" and self._location != ":memory:":
            raise StorageError(self._location, "open", f"journal mode is {mode!r}, not WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")  # one of two literals, checked above
        conn.execute("PRAGMA cache_size = -32768")  # 32 MiB of page cache per store
        conn.execute("BEGIN IMMEDIATE")  # rolled back by `_guard` if anything below fails
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            if conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
                raise StorageError(self._location, "open", "file holds tables that are not a datasoc store")
            for statement in _SCHEMA:
                conn.execute(statement)
        elif version != SCHEMA_VERSION:
            raise StorageError(
                self._location,
                "open",
                f"schema version {version} is not supported (this datasoc reads {SCHEMA_VERSION})",
            )
        conn.execute("COMMIT")

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _guard(self, operation: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock, hand out the connection, and turn sqlite3 errors into `StoreError`s."""
        with self._lock:
            if self._conn is None:
                raise StoreClosedError(f"{self._location}: store is closed")
            conn = self._conn
            try:
                yield conn
            except BaseException as exc:
                # Whatever went wrong, never leave a transaction (and the write lock) open.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if not isinstance(exc, sqlite3.Error):
                    raise
                if "fts5" in str(exc).lower():
                    raise QueryError("text", f"full-text search failed: {exc}") from None
                raise StorageError(self._location, operation, str(exc)) from None

    def _load(self, doc: str, event_id: str) -> Event:
        try:
            return Event.from_dict(json.loads(doc), where=f"{self._location}: event {event_id}")
        except (ValueError, EventValidationError) as exc:
            raise CorruptEventError(self._location, "read", str(exc)) from None

    # -- EventStore ---------------------------------------------------------------------------

    def insert_many(self, events: Sequence[Event]) -> int:
        """Store `events`; return how many were new (ids already stored are skipped)."""
        rows = []
        for index, event in enumerate(events):
            if not isinstance(event, Event):
                raise QueryError(f"events[{index}]", f"expected an Event, got {type(event).__name__}")
            rows.append((event.event_id, to_micros(event.timestamp), _encode(event)))
        return self._insert_rows(rows)

    def insert_encoded(self, events: Sequence[EncodedEvent]) -> InsertResult:
        """Store events already in wire form as they are (no decode, validation or re-encoding)."""
        rows = []
        for index, event in enumerate(events):
            if not isinstance(event, EncodedEvent):
                raise QueryError(f"events[{index}]", f"expected an EncodedEvent, got {type(event).__name__}")
            rows.append((event.event_id, event.timestamp_us, event.doc))
        return InsertResult(inserted=self._insert_rows(rows))

    def _insert_rows(self, rows: Sequence[tuple[str, int, str]]) -> int:
        if not rows:
            return 0
        with self._guard("insert") as conn:
            conn.execute("BEGIN IMMEDIATE")
            # AUTOINCREMENT and the write lock make every new row's seq greater than this.
            last = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            cursor = conn.executemany(
                "INSERT INTO events (id, ts, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", rows
            )
            inserted = cursor.rowcount
            if inserted:
                conn.execute(_INDEX_NEW, (last,))
            conn.execute("COMMIT")
            return inserted

    def get(self, event_id: str) -> Event | None:
        """The event with this `event.id`, or None."""
        if not isinstance(event_id, str):
            raise QueryError("event_id", f"expected a string, got {type(event_id).__name__}")
        with self._guard("get") as conn:
            row = conn.execute("SELECT doc FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else self._load(row[0], event_id)

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of matching events, newest first, with a cursor to the next page."""
        if not isinstance(query, SearchQuery):
            raise QueryError("query", f"expected a SearchQuery, got {type(query).__name__}")
        conditions, params = _where(to_micros(query.start), to_micros(query.end), query.filters, query.terms)
        total_sql = _select("count(*)", "events", conditions)
        total_params = list(params)
        if query.after is not None:
            after_ts, after_id = decode_cursor(query.after)
            conditions.append("(ts, id) < (?, ?)")
            params.extend([after_ts, after_id])
        sql = _select("ts, id, doc", "events", conditions, "ORDER BY ts DESC, id DESC LIMIT ?")
        with self._guard("search") as conn:
            # One row more than asked tells whether another page exists without a count.
            rows = conn.execute(sql, [*params, query.limit + 1]).fetchall()
            total = conn.execute(total_sql, total_params).fetchone()[0] if query.with_total else None
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        events = tuple(self._load(doc, event_id) for _, event_id, doc in rows)
        next_cursor = encode_cursor(rows[-1][0], rows[-1][1]) if more else None
        return SearchPage(events=events, next_cursor=next_cursor, total=total)

    def count(self, query: SearchQuery) -> int:
        """How many events match `query` (its `limit` and `after` are ignored)."""
        if not isinstance(query, SearchQuery):
            raise QueryError("query", f"expected a SearchQuery, got {type(query).__name__}")
        conditions, params = _where(to_micros(query.start), to_micros(query.end), query.filters, query.terms)
        with self._guard("count") as conn:
            return int(conn.execute(_select("count(*)", "events", conditions), params).fetchone()[0])

    def count_by(
        self,
        field: str,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        *,
        filters: Sequence[FieldFilter] = (),
        origin: datetime = EPOCH,
    ) -> list[Bucket]:
        """Non-empty (time bucket, value) counts, by bucket start then value."""
        start_us, end_us, width, origin_us = check_buckets(field, start, end, bucket, origin)
        conditions, params = _where(start_us, end_us, filters_of(filters), ())
        # SQLite's % keeps the dividend's sign; adding the width once makes it a true modulo, so
        # events before `origin` still fall in the bucket that contains them.
        bucket_sql = "ts - (((ts - ?) % ?) + ?) % ?"
        bucket_params: list[Any] = [origin_us, width, width, width]
        column = _HOT_COLUMNS.get(field)
        if column is not None:
            source, value_sql, kind_sql = "events", column, "'text'"
            conditions.insert(0, f"{column} IS NOT NULL")
            all_params = [*bucket_params, *params]
        else:
            source, value_sql, kind_sql = "events, json_each(events.doc, ?) AS j", "j.value", "j.type"
            conditions.insert(0, "j.type IN ('text', 'integer', 'real', 'true', 'false')")
            all_params = [*bucket_params, _json_path(field), *params]
        sql = _select(
            f"count(*), {bucket_sql}, {value_sql}, {kind_sql}",
            source,
            conditions,
            "GROUP BY 2, 3, 4 ORDER BY 2, 3",
        )
        with self._guard("count_by") as conn:
            rows = conn.execute(sql, all_params).fetchall()
        return [
            Bucket(start=from_micros(b), value=_decode_value(value, kind), count=n)
            for n, b, value, kind in rows
        ]

    def sync(self) -> None:
        """Checkpoint the WAL into the database file (both fsynced), making every commit durable."""
        with self._guard("sync") as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        if busy:
            raise StorageError(self._location, "sync", "checkpoint blocked by another connection; retry")

    def _purge_before(self, cutoff: datetime) -> int:
        """Retention only (see `RetentionJob`): delete events with `@timestamp < cutoff`."""
        cutoff_us = to_micros(check_time(cutoff, "cutoff"))
        purged = 0
        while True:
            # Batches keep each transaction (and the WAL) small so readers are not starved.
            with self._guard("purge") as conn:
                conn.execute("BEGIN IMMEDIATE")
                seqs = [
                    row[0]
                    for row in conn.execute(
                        "SELECT seq FROM events WHERE ts < ? ORDER BY ts LIMIT ?", (cutoff_us, PURGE_BATCH)
                    )
                ]
                if seqs:
                    batch = json.dumps(seqs)
                    conn.execute(_UNINDEX, (batch,))  # before the rows go: it reads their `doc`
                    conn.execute(_DELETE, (batch,))
                conn.execute("COMMIT")
            purged += len(seqs)
            if len(seqs) < PURGE_BATCH:
                return purged

    def close(self) -> None:
        """Close the connection; later calls raise `StoreClosedError`."""
        with self._lock:
            if self._conn is None:
                return
            with suppress(sqlite3.Error):  # an optimisation hint must never stop a close
                self._conn.execute("PRAGMA optimize")  # refreshes planner statistics cheaply
            self._conn.close()
            self._conn = None

    # -- SQLite specifics (operations and tests) -----------------------------------------------

    @property
    def location(self) -> str:
        """The database path (or `":memory:"`)."""
        return self._location

    def pragmas(self) -> dict[str, object]:
        """The settings in force: `journal_mode` (`wal` on a file), `synchronous` (1 = NORMAL, 2 = FULL),
        `user_version` (the schema version)."""
        with self._guard("pragma") as conn:
            return {
                name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "user_version")
            }

    def check_text_index(self) -> None:
        """Run FTS5's integrity check; raises `StorageError` if the full-text index is damaged."""
        with self._guard("fts integrity-check") as conn:
            conn.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")

    def text_index_rows(self) -> int:
        """How many documents the full-text index holds (equals the event count when in sync)."""
        with self._guard("fts size") as conn:
            return int(conn.execute("SELECT count(*) FROM events_fts_docsize").fetchone()[0])


def _encode(event: Event) -> str:
    return json.dumps(
        event.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def _decode_value(value: Any, kind: str) -> Scalar:
    if kind == "true":
        return True
    if kind == "false":
        return False
    if isinstance(value, str | int | float):
        return value
    raise StoreError(f"unexpected value {value!r} of JSON type {kind} in count_by")
