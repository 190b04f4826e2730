"""The index template of the daily event indices, generated from the normalized event schema.

Pure: returns the JSON body of `PUT _index_template/<name>`, the same for OpenSearch 2.x and
Elasticsearch 9.x except the type of the full-text field (`Dialect`).

Natural fields (the event's own names), for operators, dashboards and retro-hunt queries:
- `@timestamp`, `event.ingested`: `date`; `source.ip`: `ip` (CIDR queries); counts: `long`;
- every other string of the schema, and by a dynamic template every native string: `keyword`
  with the `lowercase` normalizer, because Sigma compares strings case-insensitively and pySigma's
  Lucene queries are plain terms and wildcards (`ignore_above` 8191: longer values stay in
  `_source` and `_datasoc`, unindexed here);
- `log.original`, `message`, `data.asset.name`: also a `text` sub-field with the standard analyzer,
  which cuts Chinese into single characters, so phrase queries find Chinese words without a
  dictionary (no smartcn or IK plugin is needed);
- native numbers and booleans are `keyword`s too (`4688`, `true`): one event's array may mix
  numbers and strings, and a field's type may differ between sources; typed dynamic mapping would
  refuse such events. Numeric comparisons on native fields are therefore not run by the engines
  (retro-hunt evaluates those rules itself); the store's own filters are typed (`_datasoc.f`);
- `ignore_malformed` at index level: a value of the wrong type for a schema field is left
  unindexed in that field instead of refusing the event.

The store's own object `_datasoc` (see `documents`): `ts` long, `id` and `f` exact keywords,
`text` a `wildcard` field on OpenSearch (trigram-indexed substring search) or a plain `keyword`
on Elasticsearch (the `wildcard` type is an x-pack module there).
"""

from __future__ import annotations

import typing
from datetime import datetime
from enum import Enum
from typing import Any, Final

from datasoc.event import Event
from datasoc.store.query import MAX_LIMIT
from datasoc.store.search.documents import INTERNAL

KEYWORD_IGNORE_ABOVE: Final = 8191
#: Native fields in one index before the engine refuses more (Windows logs carry hundreds).
TOTAL_FIELDS_LIMIT: Final = 10_000
_TEXT_FIELDS: Final = frozenset({"log.original", "message", "data.asset.name"})


class Dialect(Enum):
    """What differs between the engines' index templates."""

    OPENSEARCH = "opensearch"
    ELASTICSEARCH = "elasticsearch"


def _keyword() -> dict[str, Any]:
    return {"type": "keyword", "normalizer": "lowercase", "ignore_above": KEYWORD_IGNORE_ABOVE}


def _schema_type(annotation: Any) -> str:
    """`date`, `long`, `ip` or `keyword` for a model field annotation (Optional unwrapped)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if typing.get_origin(annotation) is not None and args else annotation
    if base is datetime:
        return "date"
    if base is int:
        return "long"
    return "keyword"


def schema_fields() -> dict[str, dict[str, Any]]:
    """Mapping of each field of the normalized event schema, by its dotted name."""
    fields: dict[str, dict[str, Any]] = {}
    for name, info in Event.model_fields.items():
        dotted = info.alias or name
        kind = "ip" if dotted == "source.ip" else _schema_type(info.annotation)
        fields[dotted] = _keyword() if kind == "keyword" else {"type": kind}
    for dotted in _TEXT_FIELDS:
        fields[dotted] = {**fields.get(dotted, _keyword()), "fields": {"text": {"type": "text"}}}
    return fields


def _nest(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Dotted names to the nested `properties` objects a mapping is written in."""
    root: dict[str, Any] = {}
    for dotted, mapping in sorted(flat.items()):
        node = root
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = mapping
    return root


def internal_properties(dialect: Dialect) -> dict[str, Any]:
    """Mapping of the store's own `_datasoc` object."""
    text: dict[str, Any] = (
        {"type": "wildcard"} if dialect is Dialect.OPENSEARCH else {"type": "keyword", "ignore_above": 32766}
    )
    return {
        "properties": {
            "ts": {"type": "long"},
            "id": {"type": "keyword"},
            "f": {"type": "keyword"},
            "text": text,
        }
    }


def index_template(
    dialect: Dialect, pattern: str, *, shards: int, replicas: int, refresh_interval: str = "1s"
) -> dict[str, Any]:
    """Body of the composable index template for indices matching `pattern`."""
    properties = _nest(schema_fields())
    properties[INTERNAL] = internal_properties(dialect)
    index: dict[str, Any] = {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        "refresh_interval": refresh_interval,
        # a page of SearchQuery's largest limit plus the one hit that tells whether more follow
        "max_result_window": MAX_LIMIT + 1,
        # acknowledged writes are fsynced before the bulk answer (the default, kept explicit)
        "translog": {"durability": "request"},
        "mapping": {"ignore_malformed": True, "total_fields": {"limit": TOTAL_FIELDS_LIMIT}},
    }
    if dialect is Dialect.OPENSEARCH:
        # DEFLATE on OpenSearch. Elasticsearch 9's best_compression is zstd through native code,
        # which a cluster without the distribution's native libraries (the test servers) lacks.
        index["codec"] = "best_compression"
    return {
        "index_patterns": [pattern],
        "priority": 200,
        "template": {
            "settings": {"index": index},
            "mappings": {
                "dynamic": True,
                "date_detection": False,
                "numeric_detection": False,
                "dynamic_templates": [
                    {f"native_{kind}": {"match_mapping_type": kind, "mapping": _keyword()}}
                    for kind in ("string", "long", "double", "boolean")
                ],
                "properties": properties,
            },
        },
        "_meta": {"managed_by": "datasoc", "schema": "datasoc normalized event"},
    }
