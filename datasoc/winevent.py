"""Flatten evtx_dump-style Windows events into the flat field names SigmaHQ rules use. Pure.

The one shared definition: collectors flatten what they ingest with it, detection flattens
what it is handed with it, so a SigmaHQ rule sees the same field names on both paths.

Input: `{"Event": {"System": {...}, "EventData": {...} | "UserData": {...}}}` as written by
pyevtx-rs / evtx_dump (`#attributes` for XML attributes, `#text` for element text).
Output, following the conventions of Zircolite and of SigmaHQ's regression tests:

- System elements keep their name (`EventID`, `Channel`, `Computer`, ...); an element's text is its
  value; its XML attributes become `Element_Attribute` (`Provider_Name`, `TimeCreated_SystemTime`,
  `Execution_ProcessID`, `Security_UserID`, `EventID_Qualifiers`);
- EventData names are kept with every character other than letters, digits and `_` removed
  (`"Source Name"` becomes `SourceName`); an element whose value is `{"#text": [...]}` (unnamed
  `<Data>` elements of classic PowerShell events) becomes a list-valued field (`Data`);
- UserData leaves are flattened to their own (cleaned) names; XML namespace attributes are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_NOT_NAME: Final = re.compile(r"[^0-9A-Za-z_]")
_TEXT: Final = "#text"
_ATTRS: Final = "#attributes"


_CLEANED: dict[str, str] = {}
_CLEANED_MAX: Final = 1 << 16  # distinct names remembered (EventData names repeat; bounded anyway)


def clean_key(key: str) -> str:
    """A field name with everything but letters, digits and `_` removed."""
    cleaned = _CLEANED.get(key)
    if cleaned is None:
        cleaned = _NOT_NAME.sub("", key)
        if len(_CLEANED) < _CLEANED_MAX:
            _CLEANED[key] = cleaned
    return cleaned


_NOT_MAPPINGS: Final = frozenset({str, int, float, bool, list, type(None)})


def _is_mapping(value: Any) -> bool:
    # JSON decoders give dicts and scalars: test the class first, the ABC (slow) only for the rest.
    cls = value.__class__
    return cls is dict or (cls not in _NOT_MAPPINGS and isinstance(value, Mapping))


def is_evtx(record: Mapping[str, Any]) -> bool:
    """True when `record` has the evtx_dump shape (`{"Event": {"System": ...}}`)."""
    event = record.get("Event")
    return event is not None and _is_mapping(event) and _is_mapping(event.get("System"))


def _system(system: Mapping[str, Any], out: dict[str, Any]) -> None:
    for name, value in system.items():
        cls = value.__class__  # the mapping test inlined: this runs for every field of every event
        if cls is not dict and (cls in _NOT_MAPPINGS or not isinstance(value, Mapping)):
            out[name] = value
            continue
        if _TEXT in value:
            out[name] = value[_TEXT]
        attributes = value.get(_ATTRS)
        if attributes is not None and _is_mapping(attributes):
            for attribute, attribute_value in attributes.items():
                out[name + "_" + clean_key(attribute)] = attribute_value


def _event_data(data: Mapping[str, Any], out: dict[str, Any]) -> None:
    cleaned = _CLEANED
    for name, value in data.items():
        if name == _ATTRS:
            continue
        key = cleaned.get(name) or clean_key(name)
        cls = value.__class__
        if cls is not dict and (cls in _NOT_MAPPINGS or not isinstance(value, Mapping)):
            out[key] = value
        elif _TEXT in value:
            out[key] = value[_TEXT]
        else:
            _user_data(value, out)


def _user_data(data: Mapping[str, Any], out: dict[str, Any]) -> None:
    for name, value in data.items():
        if name == _ATTRS or name.startswith("xmlns"):
            continue
        if _is_mapping(value):
            if _TEXT in value:
                out[clean_key(name)] = value[_TEXT]
            else:
                _user_data(value, out)
        else:
            out[clean_key(name)] = value


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one evtx_dump record; a record without the `Event.System` shape is returned as is."""
    if not is_evtx(record):
        return dict(record)
    event = record["Event"]
    out: dict[str, Any] = {}
    _system(event["System"], out)
    event_data = event.get("EventData")
    if event_data is not None and _is_mapping(event_data):
        _event_data(event_data, out)
    user_data = event.get("UserData")
    if user_data is not None and _is_mapping(user_data):
        _user_data(user_data, out)
    return out
