"""Routing: the rules an event can reach, by its logsource and by the Channel/EventID rules require.

Two exact filters pick, for each event, the rules worth asking the candidate index about:

1. logsource (`detection.logsource`): a rule is evaluated only on events of the logsource it names;
2. Channel and EventID: a processing pipeline turns a rule's logsource into conditions (`sysmon`:
   process_creation becomes `Channel: Microsoft-Windows-Sysmon/Operational` and `EventID: 1`), and
   SigmaHQ's builtin rules name their EventID themselves. `constraints(node)` reads those
   requirements from the IR: for each routing field, the values the field must take for the rule to
   match (a necessary condition, like the index's clauses).

Both depend only on a few fields of the event (`detection.logsource.route_key`), so an event's
partition, the rules left and their candidate index, is built on first use and cached by route key,
and indexes are shared by every key that leaves the same rules. Exact: a rule is left out only when
its logsource does not admit the event or its condition requires a Channel or EventID the event does
not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from datasoc.logsource import CATEGORY_FIELD, PRODUCT_FIELD, SERVICE_FIELD
from detection import ir
from detection.index import CandidateIndex, Clause, clauses, ranked
from detection.logsource import RouteKey, RuleLogsource, Source, admitted, route_key, sources
from detection.view import FieldValue, View

ROUTING_FIELDS = ("Channel", "EventID")
Constraints = dict[str, frozenset[str]]
_ANY = "\x00any"  # an event value that admits every rule (list-valued routing field)
_FREE = RuleLogsource()  # what a bare IR node is routed as: every event admits it


class Routable(Protocol):
    """What routing reads of a rule (`detection.rule.CompiledRule` is one)."""

    @property
    def logsource(self) -> RuleLogsource:
        """The rule's logsource."""

    @property
    def constraints(self) -> Constraints:
        """Channel/EventID values the condition requires."""

    @property
    def clauses(self) -> list[Clause]:
        """Necessary clauses of the condition, most selective first (`detection.index.ranked`)."""


class _Bare:
    """A bare IR node as a routable rule of no logsource."""

    def __init__(self, node: ir.Node) -> None:
        self.logsource = _FREE
        self.constraints = constraints(node)
        self.clauses = ranked(clauses(node))


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


def _pinned(value: FieldValue | None) -> str | None:
    if value is None:
        return None
    return canonical(value) if value.__class__ is str else _ANY


#: The candidate index of the rules left for a route key, the rules, and whether the key's logsource
#: could be told (False: every rule was admitted because it could not).
_Partition = tuple[CandidateIndex, tuple[int, ...], bool]


class RoutedIndex:
    """Candidate rules for an event: the candidate index of the partition its route key selects."""

    def __init__(self, rules: Sequence[Routable | ir.Node], *, logsource: bool = True) -> None:
        """`rules` are compiled rules (or bare IR nodes: routed by Channel/EventID only);
        `logsource` False turns logsource routing off (`--logsource any`)."""
        self._rules: list[Routable] = [_Bare(r) if isinstance(r, ir.Node) else r for r in rules]
        # Rules grouped by logsource: admission is decided once per distinct logsource.
        groups: dict[RuleLogsource, list[int]] = {}
        for position, rule in enumerate(self._rules):
            groups.setdefault(rule.logsource, []).append(position)
        self._groups = list(groups.items())
        self._routing = logsource
        self._by_key: dict[RouteKey, _Partition] = {}
        self._by_members: dict[tuple[int, ...], tuple[CandidateIndex, tuple[int, ...]]] = {}

    @property
    def logsource_routing(self) -> bool:
        """Whether rules are routed by logsource (else every rule is tried on every event)."""
        return self._routing

    @property
    def always(self) -> int:
        """How many rules have no necessary clause (tried on every event their routing lets through)."""
        return sum(1 for rule in self._rules if not rule.clauses)

    @property
    def partitions(self) -> int:
        """How many distinct partitions (rule subsets with their index) have been built so far."""
        return len(self._by_members)

    def admitted(self, low: View) -> list[int]:
        """Positions of the rules the event's logsource admits (no Channel/EventID, no index)."""
        return self._admitted(sources(route_key(low)) if self._routing else None)

    def _admitted(self, found: tuple[Source, ...] | None) -> list[int]:
        if found is None:
            return list(range(len(self._rules)))
        kept = [positions for logsource, positions in self._groups if admitted(found, logsource)]
        return sorted(p for positions in kept for p in positions)

    def _partition(self, key: RouteKey) -> _Partition:
        found = sources(key) if self._routing else None
        channel, event_id = _pinned(key[0]), _pinned(key[1])  # type: ignore[arg-type]
        members: list[int] = []
        rules = self._rules
        for position in self._admitted(found):
            required = rules[position].constraints
            if required:
                allowed = required.get("Channel")
                if allowed is not None and channel != _ANY and (channel is None or channel not in allowed):
                    continue
                allowed = required.get("EventID")
                if allowed is not None and event_id != _ANY and (event_id is None or event_id not in allowed):
                    continue
            members.append(position)
        kept = tuple(members)
        shared = self._by_members.get(kept)
        if shared is None:
            index = CandidateIndex.from_clauses([rules[p].clauses for p in kept], kept, is_ranked=True)
            shared = self._by_members[kept] = (index, kept)
        partition = self._by_key[key] = (shared[0], kept, found is not None or not self._routing)
        return partition

    def candidates(self, low: View) -> list[int]:
        """Positions (ascending) of the rules that may match the event."""
        get = low.get  # inline `route_key`: this runs once per event
        key = (
            get("Channel"),
            get("EventID"),
            "Provider_Name" in low,
            get(PRODUCT_FIELD),
            get(SERVICE_FIELD),
            get(CATEGORY_FIELD),
        )
        partition = self._by_key.get(key)
        if partition is None:
            partition = self._partition(key)
        return partition[0].candidates(low)

    def told(self, low: View) -> bool:
        """Whether the event's logsource can be told (else every rule is admitted for it)."""
        key = route_key(low)
        partition = self._by_key.get(key)
        if partition is None:
            partition = self._partition(key)
        return partition[2]
