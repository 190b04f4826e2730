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


def clean_key(key: str) -> str:
    """A field name with everything but letters, digits and `_` removed."""
    return _NOT_NAME.sub("", key)


def is_evtx(record: Mapping[str, Any]) -> bool:
    """True when `record` has the evtx_dump shape (`{"Event": {"System": ...}}`)."""
    event = record.get("Event")
    return isinstance(event, Mapping) and isinstance(event.get("System"), Mapping)


def _system(system: Mapping[str, Any], out: dict[str, Any]) -> None:
    for name, value in system.items():
        if not isinstance(value, Mapping):
            out[name] = value
            continue
        if _TEXT in value:
            out[name] = value[_TEXT]
        attributes = value.get(_ATTRS)
        if isinstance(attributes, Mapping):
            for attribute, attribute_value in attributes.items():
                out[f"{name}_{clean_key(attribute)}"] = attribute_value


def _event_data(data: Mapping[str, Any], out: dict[str, Any]) -> None:
    for name, value in data.items():
        if name == _ATTRS:
            continue
        if isinstance(value, Mapping):
            if _TEXT in value:
                out[clean_key(name)] = value[_TEXT]
            else:
                _user_data(value, out)
        else:
            out[clean_key(name)] = value


def _user_data(data: Mapping[str, Any], out: dict[str, Any]) -> None:
    for name, value in data.items():
        if name == _ATTRS or name.startswith("xmlns"):
            continue
        if isinstance(value, Mapping):
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
    if isinstance(event_data, Mapping):
        _event_data(event_data, out)
    user_data = event.get("UserData")
    if isinstance(user_data, Mapping):
        _user_data(user_data, out)
    return out
