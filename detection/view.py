"""The per-event view every matcher reads: string forms of each field, original case and lowered.

Sigma compares strings case-insensitively unless a value is `|cased` or `|re`, so each event is
lowered once here instead of once per rule. Pure: a mapping in, two dicts out.

Semantics fixed here (Sigma specification, "Value types" and "Null values"):
- a field whose value is `null` is absent from the view (`null` means missing or null);
- numbers become their decimal string (`4688` matches the rule value `"4688"` and vice versa),
  booleans become `"true"`/`"false"`;
- a list-valued field becomes a tuple of string forms (a value matches when any element matches;
  an empty list is present but matches no value);
- nested objects are flattened to dotted names (`{"user": {"name": "a"}}` gives `user.name`), so
  rules on the normalized ECS schema can name `user.name` whichever way the event is shaped; the
  object's own name (`user`) is present with no string form, and objects inside a list add their
  fields as list elements (`{"a": [{"b": 1}, {"b": 2}]}` gives `a.b` = ("1", "2")).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: A field's string form: one string, or a tuple of strings for a list-valued field.
FieldValue = str | tuple[str, ...]
View = dict[str, FieldValue]


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _put(raw: View, key: str, texts: tuple[str, ...]) -> None:
    """Record `texts` under `key`, appending to what is there (list elements, objects in a list)."""
    before = raw.get(key)
    if isinstance(before, str):
        texts = (before, *texts)
    elif before is not None:
        texts = before + texts
    raw[key] = texts[0] if len(texts) == 1 else texts


def _add(raw: View, key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        # The object itself is present (`exists`, not `null`) but has no string form of its own.
        _put(raw, key, ())
        for sub_key, sub_value in value.items():
            _add(raw, f"{key}.{sub_key}", sub_value)
    elif isinstance(value, (list, tuple)):
        items: list[str] = []
        for element in value:
            if isinstance(element, Mapping):
                _add(raw, key, element)
                continue
            text = _scalar(element)
            if text is not None:
                items.append(text)
        _put(raw, key, tuple(items))
    else:
        text = _scalar(value)
        if text is not None:
            _put(raw, key, (text,))


def build_view(event: Mapping[str, Any]) -> tuple[View, View]:
    """Return `(raw, low)`: each field's string form(s) in original case and lowered."""
    raw: View = {}
    low: View = {}
    nested = False
    # One pass for the common case (strings and integers); anything else is flattened by `_add`
    # and then lowered in a second pass over the whole view (it may append to keys seen before).
    for key, value in event.items():
        kind = value.__class__
        if kind is str:
            raw[key] = value
            low[key] = value.lower()
        elif kind is int:
            raw[key] = low[key] = str(value)  # digits and '-': already lower case
        elif value is not None:
            _add(raw, key, value)
            nested = True
    if nested:
        for key, text in raw.items():
            low[key] = text.lower() if text.__class__ is str else tuple(t.lower() for t in text)
    return raw, low
