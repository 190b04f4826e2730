"""The reference evaluator: pySigma's SQLite backend over an in-memory SQLite table (Zircolite's method).

Used only by the differential test and by `datasoc bench detect` as the baseline; it needs
`pysigma-backend-sqlite` (a dev dependency), imported when a `SqliteReference` is built.

Method (as Zircolite does it): every event is a row of one table `logs` whose columns are the event
fields declared `TEXT COLLATE NOCASE`; a Python `regexp` function backs SQL `REGEXP`; each rule is
converted once to `SELECT ... FROM logs WHERE ...` and run over the whole table. Choices made here:
a column missing from the events is added (all NULL) rather than failing the query; a list-valued
field is stored as its elements joined by newlines; a JSON boolean is stored as `true`/`false`, the
text of the XML element it came from (sqlite3 would store 1/0, and `Initiated: 'true'` in SigmaHQ's
network rules would then never match); SQLite column names are case-insensitive, so two
event fields differing only in case share a column (the later one wins).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from detection import modifiers
from detection.errors import DetectionError

_MISSING_COLUMN = re.compile(r"no such column: (\S+)")


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value if v is not None)
    if isinstance(value, Mapping):
        return None
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)  # SQLite integers are 64-bit; the column is TEXT anyway
    return value


@dataclass(frozen=True)
class Conversion:
    """Rules converted to SQL (`queries`: rule id -> WHERE query) and those the backend refused."""

    queries: dict[str, str]
    unsupported: dict[str, str]


def load_rules(paths: Sequence[Path]) -> SigmaCollection:
    """Parse rule files with pySigma, with the engine's modifier corrections (`detection.modifiers`)."""
    modifiers.register()
    return SigmaCollection.load_ruleset(list(paths), collect_errors=True)


def convert(rules: SigmaCollection, pipeline: ProcessingPipeline | None) -> Conversion:
    """Convert each single-event rule with pySigma's SQLite backend and the given pipeline."""
    from sigma.backends.sqlite.sqlite import sqliteBackend

    backend = sqliteBackend(processing_pipeline=pipeline)  # type: ignore[no-untyped-call]
    queries: dict[str, str] = {}
    unsupported: dict[str, str] = {}
    for rule in rules.rules:
        if not isinstance(rule, SigmaRule) or rule.errors:
            continue
        key = str(rule.id)
        try:
            converted = backend.convert_rule(rule)  # type: ignore[no-untyped-call]
        except (SigmaError, NotImplementedError, ValueError, TypeError) as exc:
            unsupported[key] = f"{type(exc).__name__}: {exc}"
            continue
        if len(converted) != 1 or not isinstance(converted[0], str):
            unsupported[key] = "conversion did not give exactly one query"
            continue
        queries[key] = converted[0].replace("SELECT * FROM logs", "SELECT row_id FROM logs", 1)
    return Conversion(queries, unsupported)


class SqliteReference:
    """An in-memory `logs` table holding a batch of flat events, queried rule by rule."""

    def __init__(self, events: Sequence[Mapping[str, Any]]) -> None:
        self._db = sqlite3.connect(":memory:")
        self._db.create_function("regexp", 2, _regexp, deterministic=True)
        columns: dict[str, str] = {}
        for event in events:
            for name in event:
                columns.setdefault(name.lower(), name)
        self._columns = set(columns)
        column_sql = ", ".join(f'"{name}" TEXT COLLATE NOCASE' for name in columns.values())
        self._db.execute(f"CREATE TABLE logs (row_id INTEGER PRIMARY KEY, {column_sql})")
        ordered = list(columns.values())
        placeholders = ", ".join("?" for _ in range(len(ordered) + 1))
        names = ", ".join(f'"{name}"' for name in ordered)
        rows = []
        for position, event in enumerate(events):
            lowered = {key.lower(): _cell(value) for key, value in event.items()}
            rows.append((position, *(lowered.get(name.lower()) for name in ordered)))
        self._db.executemany(f"INSERT INTO logs (row_id, {names}) VALUES ({placeholders})", rows)  # noqa: S608 - names come from the events, quoted

    def query(self, sql: str) -> set[int]:
        """Row positions (0-based event indices) the query selects; adds columns it lacks."""
        for _ in range(64):
            try:
                return {row[0] for row in self._db.execute(sql)}
            except sqlite3.OperationalError as exc:
                missing = _MISSING_COLUMN.search(str(exc))
                if missing is None or missing.group(1).lower() in self._columns:
                    raise DetectionError(f"reference query failed: {exc}: {sql[:200]}") from exc
                name = missing.group(1).strip('"')
                self._db.execute(f'ALTER TABLE logs ADD COLUMN "{name}" TEXT COLLATE NOCASE')
                self._columns.add(name.lower())
        raise DetectionError(f"reference query lacks too many columns: {sql[:200]}")

    def close(self) -> None:
        """Release the in-memory database."""
        self._db.close()
