"""`SearchQuery` and `count_by` as OpenSearch/Elasticsearch query DSL, and their answers back. Pure.

Every condition is on the store's own `_datasoc` object (see `documents`), so the semantics of
`datasoc.store.query` hold whatever the natural fields' mappings are:
- time: `range` on `_datasoc.ts` (microseconds), `[start, end)`;
- `eq`/`in`: `term`/`terms` on the typed tokens `_datasoc.f`; `prefix`: `prefix` on the string
  tokens (`s:`, and `t:` for long values);
- text: one case-insensitive `wildcard` `*term*` per term on `_datasoc.text` (all required);
- order `_datasoc.ts` desc, `_datasoc.id` desc; the cursor is `search_after` on both;
- `count_by`: a `histogram` on `_datasoc.ts` (interval = bucket width, offset = origin) with a
  `terms` aggregation of the field's tokens under it (an `include` pattern picks them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from datasoc.store.errors import QueryError
from datasoc.store.query import Bucket, FieldFilter, SearchQuery, decode_cursor, from_micros, to_micros
from datasoc.store.search.documents import (
    INTERNAL,
    LONG_VALUE,
    MAX_TEXT_TERM,
    filter_tokens,
    parse_token,
)

TS: Final = f"{INTERNAL}.ts"
ID: Final = f"{INTERNAL}.id"
TOKENS: Final = f"{INTERNAL}.f"
TEXT: Final = f"{INTERNAL}.text"
#: Distinct values of one field per time bucket that `count_by` returns; more is an error.
MAX_VALUES_PER_BUCKET: Final = 1000
SORT: Final[list[dict[str, Any]]] = [{TS: {"order": "desc"}}, {ID: {"order": "desc"}}]
_WILDCARD_SPECIAL = re.compile(r"([*?\\])")


def _filter_clause(item: FieldFilter) -> dict[str, Any]:
    if item.op == "prefix":
        prefix = str(item.values[0])
        if len(prefix) > LONG_VALUE:
            raise QueryError(
                f"filter {item.field}", f"a prefix longer than {LONG_VALUE} characters is not supported here"
            )
        return {
            "bool": {
                "should": [
                    {"prefix": {TOKENS: f"s:{item.field}={prefix}"}},
                    {"prefix": {TOKENS: f"t:{item.field}={prefix}"}},
                ],
                "minimum_should_match": 1,
            }
        }
    tokens = [token for value in item.values for token in filter_tokens(item.field, value)]
    if not tokens:  # only non-finite numbers, refused by FieldFilter already; keep it safe
        return {"match_none": {}}
    return {"terms": {TOKENS: tokens}} if len(tokens) > 1 else {"term": {TOKENS: tokens[0]}}


def _text_clause(term: str) -> dict[str, Any]:
    if len(term) > MAX_TEXT_TERM:
        raise QueryError("text", f"a term longer than {MAX_TEXT_TERM} characters is not supported here")
    pattern = "*" + _WILDCARD_SPECIAL.sub(r"\\\1", term) + "*"
    return {"wildcard": {TEXT: {"value": pattern, "case_insensitive": True}}}


def where(start_us: int, end_us: int, filters: Sequence[FieldFilter], terms: Sequence[str]) -> dict[str, Any]:
    """The `bool` query of a time range, filters and text terms."""
    clauses: list[dict[str, Any]] = [{"range": {TS: {"gte": start_us, "lt": end_us}}}]
    clauses.extend(_filter_clause(item) for item in filters)
    clauses.extend(_text_clause(term) for term in terms)
    return {"bool": {"filter": clauses}}


def search_body(query: SearchQuery) -> dict[str, Any]:
    """Body of `_search` for one page: one hit more than the limit tells whether another page exists."""
    body: dict[str, Any] = {
        "query": where(to_micros(query.start), to_micros(query.end), query.filters, query.terms),
        "sort": SORT,
        "size": query.limit + 1,
        "track_total_hits": query.with_total,
    }
    if query.after is not None:
        after_ts, after_id = decode_cursor(query.after)
        body["search_after"] = [after_ts, after_id]
    return body


def count_body(query: SearchQuery) -> dict[str, Any]:
    """Body of `_count`."""
    return {"query": where(to_micros(query.start), to_micros(query.end), query.filters, query.terms)}


def _include(field: str) -> str:
    """Lucene regular expression of the tokens of `field` that carry a value (`s`, `n`, `b`)."""
    escaped = "".join(ch if ch.isalnum() else "\\" + ch for ch in field)
    return f"[snb]:{escaped}=.*"


def count_by_body(
    field: str, start_us: int, end_us: int, width_us: int, origin_us: int, filters: Sequence[FieldFilter]
) -> dict[str, Any]:
    """Body of the `_search` behind `count_by` (no hits, only the aggregation)."""
    present = {
        "bool": {
            "should": [{"prefix": {TOKENS: f"{kind}:{field}="}} for kind in "snb"],
            "minimum_should_match": 1,
        }
    }
    query = where(start_us, end_us, filters, ())
    query["bool"]["filter"].append(present)
    return {
        "size": 0,
        "track_total_hits": False,
        "query": query,
        "aggs": {
            "time": {
                "histogram": {
                    "field": TS,
                    "interval": width_us,
                    "offset": origin_us % width_us,
                    "min_doc_count": 1,
                },
                "aggs": {
                    "values": {
                        "terms": {"field": TOKENS, "include": _include(field), "size": MAX_VALUES_PER_BUCKET}
                    }
                },
            }
        },
    }


def buckets_of(field: str, response: Mapping[str, Any]) -> list[Bucket]:
    """The `Bucket`s of a `count_by` answer, by bucket start then value (as SQLite orders them)."""
    found: list[Bucket] = []
    for time_bucket in response["aggregations"]["time"]["buckets"]:
        start = from_micros(round(time_bucket["key"]))
        values = time_bucket["values"]
        if values.get("sum_other_doc_count", 0):
            raise QueryError(
                "field",
                f"{field} has more than {MAX_VALUES_PER_BUCKET} distinct values in one bucket",
                hint="narrow the time range or add filters",
            )
        for entry in values["buckets"]:
            parsed = parse_token(entry["key"])
            if parsed is not None:
                found.append(Bucket(start=start, value=parsed[2], count=int(entry["doc_count"])))
    return sorted(found, key=lambda b: (b.start, _order(b.value)))


def _order(value: object) -> tuple[int, Any]:
    # SQLite orders NULL < numbers < text; booleans are numbers (0, 1) there.
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, str(value).encode("utf-8"))
