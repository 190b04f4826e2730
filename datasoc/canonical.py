"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme): the bytes the ledger hashes.

Sorted keys, no insignificant white space, UTF-8, ECMAScript number format. The common case
(no floats, no keys outside the Basic Multilingual Plane) is encoded by orjson, whose output is
then byte-identical to RFC 8785 (keys in code-point order, the same string escapes) and about
twenty times faster than the standard library's; anything else goes through the `rfc8785`
package, the reference implementation. Tests check the two paths agree.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import rfc8785

from datasoc.errors import CanonicalJSONError

_MAX_SAFE_INT = 2**53 - 1
# Sorted keys; integers beyond ±(2**53-1) refused (already checked, kept as a second guard).
_FAST_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_SURROGATE = re.compile("[\ud800-\udfff]")


def check_json_value(value: Any) -> None:
    """Raise `CanonicalJSONError` unless `value` can be canonicalised; cheaper than encoding it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise CanonicalJSONError("string holds a lone surrogate (not UTF-8 encodable)")
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if abs(item) > _MAX_SAFE_INT:
                raise CanonicalJSONError(f"integer {item} is outside the I-JSON range ±(2**53-1)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise CanonicalJSONError(f"{item} is not representable in JSON")
        elif isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise CanonicalJSONError(f"object key {key!r} is not a string")
                if not key.isascii() and _SURROGATE.search(key):
                    raise CanonicalJSONError("object key holds a lone surrogate")
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        else:
            raise CanonicalJSONError(f"value of type {type(item).__name__} is not JSON")


def _needs_full_jcs(value: Any) -> bool:
    """True when the stdlib encoder could differ from RFC 8785 for this value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise CanonicalJSONError(f"object key {key!r} is not a string")
                # RFC 8785 §3.2.3 sorts by UTF-16 code units; code-point order differs only
                # for characters outside the BMP (never in an ASCII key, the usual case).
                if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                    return True
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        elif isinstance(item, int):
            if abs(item) > _MAX_SAFE_INT:
                raise CanonicalJSONError(f"integer {item} is outside the I-JSON range ±(2**53-1)")
        elif isinstance(item, float):
            return True
        else:
            raise CanonicalJSONError(f"value of type {type(item).__name__} is not JSON")
    return False


def canonical_json(value: Any) -> bytes:
    """Encode `value` (JSON types only) as RFC 8785 canonical UTF-8 bytes."""
    try:
        if _needs_full_jcs(value):
            return bytes(rfc8785.dumps(value))
        return orjson.dumps(value, option=_FAST_OPTIONS)
    except CanonicalJSONError:
        raise
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise CanonicalJSONError(f"cannot encode as canonical JSON: {exc}") from exc
