"""Canonical JSON: RFC 8785 output, fast path equal to the reference path."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from datasoc.canonical import canonical_json, check_json_value
from datasoc.errors import CanonicalJSONError

json_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_sorted_keys_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "张三", "c": [None, True]}) == (
        '{"a":"张三","b":1,"c":[null,true]}'.encode()
    )


def test_rfc8785_number_format_for_floats() -> None:
    # RFC 8785 §3.2.2.3 (ECMAScript Number.toString).
    assert canonical_json({"x": 1.0, "y": 1e21, "z": 0.1, "w": -0.0}) == b'{"w":0,"x":1,"y":1e+21,"z":0.1}'


def test_keys_sorted_by_utf16_code_units() -> None:
    # U+1F600 (surrogates D83D..) sorts before U+FB01 in UTF-16 order, after it in code-point order.
    value = {"\ufb01": 1, "\U0001f600": 2}
    assert canonical_json(value) == bytes(rfc8785.dumps(value))
    assert canonical_json(value).index("\U0001f600".encode()) < canonical_json(value).index("\ufb01".encode())


@given(json_values)
def test_fast_path_equals_reference(value: object) -> None:
    assert canonical_json(value) == bytes(rfc8785.dumps(value))
    assert json.loads(canonical_json(value)) == value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (float("nan"), "nan"),
        ({"k": object()}, "object"),
        ({1: "x"}, "not a string"),
        (2**60, "I-JSON"),
        ("\ud800", "surrogate"),
    ],
)
def test_rejects_non_canonicalisable(value: object, fragment: str) -> None:
    with pytest.raises(CanonicalJSONError, match=fragment):
        canonical_json(value)


@given(json_values)
def test_check_json_value_accepts_what_encodes(value: object) -> None:
    check_json_value(value)
    canonical_json(value)


@pytest.mark.parametrize(
    "value", [float("inf"), {"k": [1, float("nan")]}, {2: 1}, 2**60, ["\udc80"], {"\ud800": 1}, {1, 2}]
)
def test_check_json_value_rejects_what_cannot_encode(value: object) -> None:
    with pytest.raises(CanonicalJSONError):
        check_json_value(value)
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_fast_path_escapes_every_ascii_and_boundary_character_as_rfc8785() -> None:
    # Control characters (short escapes and \u00xx, lower-case hex), quote, backslash, DEL, and
    # the line separators JavaScript cares about, in strings and keys.
    chars = [chr(c) for c in range(0x80)] + ["\u2028", "\u2029", "\ufeff", "\uffff", "张"]
    value = {c: c * 2 for c in chars} | {"all": "".join(chars)}
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


def test_lone_surrogate_in_a_key_is_refused_on_the_fast_path() -> None:
    with pytest.raises(CanonicalJSONError, match="surrogate"):
        canonical_json({"a": ["x", {"\udfff": 1}]})
