"""The governance stores' shared row loading, over a real SQLite table."""

from __future__ import annotations

import sqlite3

import pytest

from soc_api.governance.errors import NotFoundError
from soc_api.governance.rows import by_id, or_none, page_by_id


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE gov_grants (id TEXT PRIMARY KEY, user TEXT, status TEXT)")
    conn.executemany(
        "INSERT INTO gov_grants VALUES (?, ?, ?)",
        [("g1", "ann", "active"), ("g2", "bob", "active"), ("g3", "ann", "revoked"), ("g4", "ann", "active")],
    )
    return conn


def test_by_id_returns_the_row_or_names_what_is_missing(conn: sqlite3.Connection) -> None:
    assert by_id(conn, "gov_grants", "g2", zh="授权", en="grant")["user"] == "bob"
    with pytest.raises(NotFoundError, match=r"^没有授权 g9 / no grant 'g9'$"):
        by_id(conn, "gov_grants", "g9", zh="授权", en="grant")


def test_or_none_turns_only_not_found_into_none(conn: sqlite3.Connection) -> None:
    def load(key: str) -> str:
        return str(by_id(conn, "gov_grants", key, zh="授权", en="grant")["id"])

    assert or_none(load, "g1") == "g1"
    assert or_none(load, "nope") is None
    with pytest.raises(ZeroDivisionError):
        or_none(lambda _key: 1 // 0, "g1")


def test_page_by_id_filters_skips_none_and_pages_after_the_cursor(conn: sqlite3.Connection) -> None:
    def ids(filters: tuple[tuple[str, str | None], ...], after: str | None, limit: int) -> list[str]:
        return [r["id"] for r in page_by_id(conn, "gov_grants", filters, after=after, limit=limit)]

    assert ids((("user", None), ("status", None)), None, 10) == ["g1", "g2", "g3", "g4"]
    assert ids((("user", "ann"), ("status", "active")), None, 10) == ["g1", "g4"]
    assert ids((("user", "ann"), ("status", None)), "g1", 1) == ["g3"]
