"""Logsource routing: split the rules by the `Channel` and `EventID` values their conditions require.

A processing pipeline turns a rule's logsource into conditions (`sysmon`: process_creation becomes
`Channel: Microsoft-Windows-Sysmon/Operational` and `EventID: 1`), and SigmaHQ's builtin rules name
their EventID themselves. `constraints(node)` reads those requirements from the IR: for each routing
field, the values the field must take for the rule to match (a necessary condition, like the index's
clauses). An event is then matched against the candidate index of only the rules its own Channel and
EventID admit; rules without such a requirement are in every partition.

Partitions are built on first use and cached by the set of rules they hold (events of many EventIDs
share one), so a stream costs one index build per distinct rule subset. Exact: a rule is left out of
a partition only when its condition requires a Channel or EventID the event does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection import ir
from detection.index import CandidateIndex, clauses
from detection.view import View

ROUTING_FIELDS = ("Channel", "EventID")
Constraints = dict[str, frozenset[str]]
_ANY = "\x00any"  # an event value that admits every rule (list-valued routing field)


def canonical(text: str) -> str:
    """One spelling per number (`"04688"`, `"4688.0"` and `4688` all give `"4688"`), else the text."""
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer():
        return str(int(number))
    return repr(number)


def constraints(node: ir.Node) -> Constraints:
    """For each routing field the condition pins down, the canonical values it allows."""
    if isinstance(node, ir.Str) and node.kind == "eq" and node.field in ROUTING_FIELDS:
        return {node.field: frozenset(canonical(t.lower()) for t in node.texts)}
    if isinstance(node, ir.Num) and node.field in ROUTING_FIELDS:
        return {node.field: frozenset({canonical(str(node.number))})}
    if isinstance(node, ir.And):
        merged: Constraints = {}
        for child in node.children:
            for field, values in constraints(child).items():
                merged[field] = merged[field] & values if field in merged else values
        return merged
    if isinstance(node, ir.Or) and node.children:
        parts = [constraints(child) for child in node.children]
        shared = set(parts[0]).intersection(*parts[1:])
        return {field: frozenset().union(*(p[field] for p in parts)) for field in shared}
    return {}


def _event_key(low: View) -> tuple[str | None, ...]:
    key: list[str | None] = []
    for field in ROUTING_FIELDS:
        value = low.get(field)
        if value is None:
            key.append(None)
        elif value.__class__ is str:
            key.append(canonical(value))
        else:
            key.append(_ANY)
    return tuple(key)


class RoutedIndex:
    """Candidate rules for an event: the shared index of the rules no Channel/EventID pins down, plus
    the index of the partition of pinned rules that the event's Channel and EventID admit."""

    def __init__(self, nodes: Sequence[ir.Node]) -> None:
        found = [clauses(node) for node in nodes]
        required = [constraints(node) for node in nodes]
        free = tuple(p for p in range(len(nodes)) if not required[p])
        self._pinned = tuple(p for p in range(len(nodes)) if required[p])
        self._found = found
        self._required = required
        self._free = (CandidateIndex.from_clauses([found[p] for p in free]), free)
        self._by_key: dict[tuple[str | None, ...], tuple[CandidateIndex, tuple[int, ...]]] = {}
        self._by_members: dict[tuple[int, ...], tuple[CandidateIndex, tuple[int, ...]]] = {}
        self.always = sum(1 for rule_clauses in found if not rule_clauses)

    def _admits(self, position: int, key: tuple[str | None, ...]) -> bool:
        required = self._required[position]
        for field, value in zip(ROUTING_FIELDS, key, strict=True):
            allowed = required.get(field)
            if allowed is None or value == _ANY:
                continue
            if value is None or value not in allowed:
                return False
        return True

    def _partition(self, key: tuple[str | None, ...]) -> tuple[CandidateIndex, tuple[int, ...]]:
        members = tuple(p for p in self._pinned if self._admits(p, key))
        partition = self._by_members.get(members)
        if partition is None:
            index = CandidateIndex.from_clauses([self._found[p] for p in members])
            partition = self._by_members[members] = (index, members)
        self._by_key[key] = partition
        return partition

    @property
    def partitions(self) -> int:
        """How many partitions of pinned rules have been built so far."""
        return len(self._by_members)

    def candidates(self, low: View) -> list[int]:
        """Positions (ascending) of the rules that may match the event."""
        key = _event_key(low)
        partition = self._by_key.get(key)
        if partition is None:
            partition = self._partition(key)
        index, members = partition
        free_index, free = self._free
        found = [free[i] for i in free_index.candidates(low)]
        if members:
            found.extend(members[i] for i in index.candidates(low))
            found.sort()
        return found
