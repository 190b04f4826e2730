"""Row loading shared by the governance stores (`store.CatalogStore`, `access_store.AccessStore`): one
row by id or a `NotFoundError` naming what is missing, and a page of rows by id after a cursor."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

from soc_api.governance.errors import NotFoundError

#: The tables read by id (the only names ever put into the SQL text).
Table = Literal["gov_assets", "gov_proposals", "gov_requests", "gov_grants"]
T = TypeVar("T")


def by_id(conn: sqlite3.Connection, table: Table, key: str, *, zh: str, en: str) -> sqlite3.Row:
    """The row of `table` whose id is `key`, else `NotFoundError` naming the missing `zh` / `en`."""
    row: sqlite3.Row | None = conn.execute(
        f"SELECT * FROM {table} WHERE id = ?",  # noqa: S608 - a fixed table name, the id bound
        (key,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"没有{zh} {key} / no {en} {key!r}")
    return row


def or_none(load: Callable[[str], T], key: str) -> T | None:
    """`load(key)`, or None where it raises `NotFoundError`."""
    try:
        return load(key)
    except NotFoundError:
        return None


def page_by_id(
    conn: sqlite3.Connection,
    table: Table,
    filters: Iterable[tuple[str, str | None]],
    *,
    after: str | None,
    limit: int,
) -> list[sqlite3.Row]:
    """Rows of `table` by id after the cursor id `after`, where each filter's column (a fixed name)
    equals its value (a None value: any)."""
    where, args = ["1 = 1"], []
    for column, value in filters:
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if after is not None:
        where.append("id > ?")
        args.append(after)
    sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"  # noqa: S608 - fixed names
    return conn.execute(sql, (*args, limit)).fetchall()
