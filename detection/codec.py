"""IR nodes (`detection.ir`) to plain JSON values and back: what the compiled-rule cache stores.

Data only: a node is a list whose first element names its type (`["S", field, kind, texts, cased,
regex]`), so reading a cache entry can never run code. `decode(encode(node)) == node` for every
node; anything else raises `CodecError` (the cache then rebuilds the entry).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from detection import ir


class CodecError(ValueError):
    """A stored node is not a valid encoding (corrupt or from another format)."""


def encode(node: ir.Node) -> list[Any]:
    """A JSON-able list for `node`."""
    if isinstance(node, ir.And):
        return ["&", [encode(child) for child in node.children]]
    if isinstance(node, ir.Or):
        return ["|", [encode(child) for child in node.children]]
    if isinstance(node, ir.Not):
        return ["!", encode(node.child)]
    if isinstance(node, ir.Str):
        return ["S", node.field, node.kind, list(node.texts), node.cased, node.regex]
    if isinstance(node, ir.Regex):
        return ["R", node.field, node.pattern, node.flags]
    if isinstance(node, ir.Num):
        return ["N", node.field, node.number]
    if isinstance(node, ir.TimePart):
        return ["T", node.field, node.unit, node.number]
    if isinstance(node, ir.Bool):
        return ["B", node.field, node.value]
    if isinstance(node, ir.Null):
        return ["0", node.field]
    if isinstance(node, ir.Exists):
        return ["E", node.field, node.value]
    if isinstance(node, ir.Cidr):
        return ["C", node.field, str(node.network)]
    if isinstance(node, ir.Compare):
        return ["<", node.field, node.op, node.number]
    if isinstance(node, ir.FieldRef):
        return ["F", node.field, node.other, node.starts, node.ends]
    if isinstance(node, ir.Const):
        return ["K", node.value]
    raise CodecError(f"cannot encode {type(node).__name__}")


def _str(value: Any) -> str:
    if value.__class__ is not str:
        raise CodecError(f"expected a string, got {type(value).__name__}")
    return value


def _field(value: Any) -> str | None:
    return None if value is None else _str(value)


def _bool(value: Any) -> bool:
    if value.__class__ is not bool:
        raise CodecError(f"expected a boolean, got {type(value).__name__}")
    return value


def _number(value: Any) -> int | float:
    if value.__class__ not in (int, float):
        raise CodecError(f"expected a number, got {type(value).__name__}")
    return value


_KINDS = frozenset({"eq", "prefix", "suffix", "contains", "glob", "any"})
_STR = frozenset({str})
_UNITS = frozenset({"minute", "hour", "day", "week", "month", "year"})


def _decode(data: Any) -> ir.Node:
    if data.__class__ is not list or not data:
        raise CodecError("a node must be a non-empty list")
    tag = data[0]
    if tag in ("&", "|"):
        if len(data) != 2 or data[1].__class__ is not list:
            raise CodecError("a boolean node holds one list of children")
        children = tuple(map(_decode, data[1]))
        return ir.And(children) if tag == "&" else ir.Or(children)
    if tag == "!":
        if len(data) != 2:
            raise CodecError("a negation holds one child")
        return ir.Not(_decode(data[1]))
    if tag == "S" and len(data) == 6:
        _, field, kind, texts, cased, regex = data
        if kind not in _KINDS or texts.__class__ is not list or not set(map(type, texts)) <= _STR:
            raise CodecError("bad string node")
        return ir.Str(_field(field), kind, tuple(texts), _bool(cased), _str(regex))
    if tag == "R" and len(data) == 4:
        flags = data[3]
        if flags.__class__ is not int:
            raise CodecError("bad regex flags")
        return ir.Regex(_field(data[1]), _str(data[2]), flags)
    if tag == "N" and len(data) == 3:
        return ir.Num(_field(data[1]), _number(data[2]))
    if tag == "T" and len(data) == 4 and data[2] in _UNITS and data[3].__class__ is int:
        return ir.TimePart(_str(data[1]), _str(data[2]), data[3])
    if tag == "B" and len(data) == 3:
        return ir.Bool(_str(data[1]), _bool(data[2]))
    if tag == "0" and len(data) == 2:
        return ir.Null(_str(data[1]))
    if tag == "E" and len(data) == 3:
        return ir.Exists(_str(data[1]), _bool(data[2]))
    if tag == "C" and len(data) == 3:
        try:
            network = ipaddress.ip_network(_str(data[2]))
        except ValueError as exc:
            raise CodecError(f"bad network: {exc}") from None
        return ir.Cidr(_str(data[1]), network)
    if tag == "<" and len(data) == 4 and data[2] in ("lt", "lte", "gt", "gte", "neq"):
        return ir.Compare(_str(data[1]), data[2], _number(data[3]))
    if tag == "F" and len(data) == 5:
        return ir.FieldRef(_str(data[1]), _str(data[2]), _bool(data[3]), _bool(data[4]))
    if tag == "K" and len(data) == 2:
        return ir.Const(_bool(data[1]))
    raise CodecError(f"unknown node {str(tag)[:10]!r} of {len(data)} elements")


def decode(data: Any) -> ir.Node:
    """The node `data` encodes; `CodecError` when it is not a valid encoding."""
    try:
        return _decode(data)
    except RecursionError:
        raise CodecError("node nested too deeply") from None
    except (TypeError, AttributeError) as exc:
        raise CodecError(f"malformed node: {exc}") from None


_ATOM_KINDS = frozenset({"eq", "sub", "has"})


def encode_clauses(clauses: list[frozenset[tuple[str, str | None, str]]]) -> list[list[list[str | None]]]:
    """A JSON-able form of a rule's necessary clauses (`detection.index.clauses`), sorted."""
    return [
        [[kind, field, text] for kind, field, text in sorted(clause, key=lambda a: (a[0], a[1] or "", a[2]))]
        for clause in clauses
    ]


def decode_clauses(data: Any) -> list[frozenset[tuple[str, str | None, str]]]:
    """The clauses `data` encodes; `CodecError` when it is not a valid encoding."""
    if data.__class__ is not list:
        raise CodecError("clauses must be a list")
    out = []
    for clause in data:
        if clause.__class__ is not list:
            raise CodecError("a clause must be a list")
        atoms = []
        for atom in clause:
            if atom.__class__ is not list or len(atom) != 3 or atom[0] not in _ATOM_KINDS:
                raise CodecError("bad atom")
            atoms.append((atom[0], _field(atom[1]), _str(atom[2])))
        out.append(frozenset(atoms))
    return out
