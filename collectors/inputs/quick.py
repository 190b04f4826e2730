"""A cheap, conservative pre-check of already-normalized events on the ingest hot path.

`Event.from_dict` (pydantic) costs about 8 µs per event, most of it in Python-level validators;
bulk ingest at tens of thousands of events per second cannot afford it for every record.
`surely_valid` answers True only for mappings it can prove `Event.from_dict` accepts, using the
same rules (required fields, lengths, literals, RFC 3339 times with offset, IP addresses, I-JSON
values); anything unusual answers False and the caller runs the full model, which also produces
the precise error. A property test checks the implication `surely_valid(d) => from_dict(d) ok`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from datasoc.canonical import check_json_value
from datasoc.errors import DatasocError
from datasoc.event import ACTOR_ROLES, CLASSIFICATIONS, LIFECYCLE_STAGES, Event

_MAX_SAFE_INT: Final = 2**53 - 1
# RFC 3339 §5.6 date-time; the full parse below rejects impossible dates the pattern lets through.
_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")

_TIME_KEYS: Final = frozenset({"@timestamp", "event.ingested"})
_BOUNDED: Final = {"event.id": 128, "event.action": 256, "observer.collector": 128}
_OPTIONAL_STR: Final = frozenset(
    {
        "log.original",
        "event.dataset",
        "event.category",
        "host.name",
        "source.geo.city_name",
        "user.id",
        "user.name",
        "data.asset.id",
        "data.asset.name",
        "data.region",
        "approval.id",
    }
)
_LITERALS: Final = {
    "event.outcome": frozenset({"success", "failure", "unknown"}),
    "datasoc.lifecycle": frozenset(LIFECYCLE_STAGES),
    "datasoc.actor_role": frozenset(ACTOR_ROLES),
    "data.classification": frozenset(CLASSIFICATIONS),
}
_COUNTS: Final = frozenset({"data.records", "data.bytes"})
_REQUIRED: Final = frozenset(Event.REQUIRED)
# Python attribute names populate fields too (populate_by_name); such keys take the slow path.
_ATTRIBUTE_NAMES: Final = frozenset(Event.model_fields)


@lru_cache(maxsize=4096)
def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _time_ok(value: Any) -> bool:
    if type(value) is not str or _TIME.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return False
    return True


def _extra_ok(key: str, value: Any) -> bool:
    if not 0 < len(key) <= 256 or key in _ATTRIBUTE_NAMES:
        return False
    try:
        check_json_value(value)
    except (DatasocError, ValueError, RecursionError):
        return False
    return True


def surely_valid(value: dict[str, Any]) -> bool:
    """True only when `Event.from_dict(value)` is certain to succeed (see module docstring)."""
    if not _REQUIRED.issubset(value):
        return False
    for key, item in value.items():
        if key in _TIME_KEYS:
            ok = _time_ok(item)
        elif key in _BOUNDED:
            ok = type(item) is str and 0 < len(item) <= _BOUNDED[key]
        elif key in _OPTIONAL_STR:
            ok = type(item) is str or (item is None and key != "log.original")
        elif key in _LITERALS:
            ok = (item is None and key != "event.outcome") or (type(item) is str and item in _LITERALS[key])
        elif key == "source.ip":
            ok = item is None or (type(item) is str and _ip_ok(item))
        elif key in _COUNTS:
            ok = item is None or (type(item) is int and 0 <= item <= _MAX_SAFE_INT)
        elif key == "user.roles":
            ok = item is None or (type(item) is list and all(type(role) is str for role in item))
        else:
            ok = _extra_ok(key, item)
        if not ok:
            return False
    return True


#: The one form of a time in wire-form events (`datasoc.event.format_timestamp`).
_WIRE_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def surely_wire_form(value: Any) -> bool:
    """True only for a mapping that is a valid event exactly as `Event.to_dict` writes it (its
    times in the one wire form, no null values): what the collectors put on the spool. Consumers
    then read it as it is, without the model's validation and re-encoding."""
    return (
        isinstance(value, dict)
        and surely_valid(value)
        and _WIRE_TIME.fullmatch(value["@timestamp"]) is not None
        and _WIRE_TIME.fullmatch(value["event.ingested"]) is not None
        and None not in value.values()
    )
