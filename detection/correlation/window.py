"""Per-group window state of one correlation rule: a time-sorted buffer of occurrences.

An occurrence is one input event (or one match of a chained correlation) that matched at least one of
the rule's referenced rules, already assigned to its group. The functions here decide which windows
fire; the engine (`detection.correlation.engine`) decides when to call them. Pure: no clock, no I/O.

Window: a set of occurrences lies within the timespan T when `last.time - first.time <= T` (inclusive).
Every window worth testing starts at some occurrence, so the windows tested are `[s.time, s.time + T]`
for buffered occurrences `s`; that is a sliding window, with no fixed boundaries.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from detection.correlation.rules import CorrelationType, CountCondition


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One contribution to a group: when, which referenced rules it matched, and which input events."""

    time: datetime
    first_time: datetime
    tiebreak: int
    indexes: tuple[int, ...]
    slots: frozenset[int]
    value: Hashable = None

    @property
    def order(self) -> tuple[datetime, int]:
        """Sort key: event time, then input position (so equal timestamps keep input order)."""
        return (self.time, self.tiebreak)

    def __reduce__(self) -> tuple[type[Occurrence], tuple[object, ...]]:
        # Pickled with every keyed-state update of the stream job: the constructor's arguments, not the
        # slots dataclass default (its __getstate__ calls `dataclasses.fields` per object: measured as a
        # tenth of a correlation stage's time).
        return (Occurrence, (self.time, self.first_time, self.tiebreak, self.indexes, self.slots, self.value))


def _time(o: Occurrence) -> datetime:
    return o.time


def _order(o: Occurrence) -> tuple[datetime, int]:
    return (o.time, o.tiebreak)


def _decrement(counts: Counter[Hashable], key: Hashable) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]  # only keys still buffered count as distinct


def measure(ctype: CorrelationType, window: Sequence[Occurrence], n_slots: int) -> int:
    """The number the condition tests (spec "Condition"), for a window of occurrences in time order.

    - event_count: number of events;
    - value_count: number of distinct values of the condition's field;
    - temporal: number of distinct referenced rules matched;
    - temporal_ordered: length of the longest prefix of the `rules` list matched in that order by
      distinct occurrences (greedy earliest match, which is optimal for a subsequence).
    All four are monotone: adding an occurrence never lowers them.
    """
    if ctype is CorrelationType.EVENT_COUNT:
        return len(window)
    if ctype is CorrelationType.VALUE_COUNT:
        return len({o.value for o in window})
    if ctype is CorrelationType.TEMPORAL:
        seen: set[int] = set()
        for o in window:
            seen |= o.slots
        return len(seen)
    step = 0
    for o in window:
        if step < n_slots and step in o.slots:
            step += 1
    return step


@dataclass
class GroupWindow:
    """The buffered occurrences of one (correlation rule, group-by values) key, sorted by `order`."""

    items: list[Occurrence] = field(default_factory=list)
    # Deadline currently registered in the engine's timer heap (lazy invalidation), if any.
    scheduled: datetime | None = None
    # How many buffered occurrences carry each value / match each referenced rule, so that value_count
    # and temporal need no scan of the window on in-order arrival.
    values: Counter[Hashable] = field(default_factory=Counter)
    slot_counts: Counter[Hashable] = field(default_factory=Counter)

    def insert(self, occ: Occurrence) -> None:
        """Add an occurrence in time order (out-of-order arrivals land in their place)."""
        insort(self.items, occ, key=_order)
        self.values[occ.value] += 1
        self.slot_counts.update(occ.slots)

    def _remove(self, start: int, end: int) -> list[Occurrence]:
        removed = self.items[start:end]
        del self.items[start:end]
        for o in removed:
            _decrement(self.values, o.value)
            for slot in o.slots:
                _decrement(self.slot_counts, slot)
        return removed

    def _distinct_from(self, start: int, ctype: CorrelationType) -> int:
        """value_count / temporal measure of `items[start:]`: all keys minus those held only by the prefix."""
        if ctype is CorrelationType.VALUE_COUNT:
            counts, prefix = self.values, Counter(o.value for o in self.items[:start])
        else:
            counts, prefix = self.slot_counts, Counter(s for o in self.items[:start] for s in o.slots)
        return len(counts) - sum(1 for key, n in prefix.items() if counts[key] == n)

    def deadline(self, timespan: timedelta) -> datetime | None:
        """When the oldest occurrence stops being able to join a window with a future event."""
        return self.items[0].time + timespan if self.items else None

    def take_arrival_window(
        self,
        occ: Occurrence,
        ctype: CorrelationType,
        n_slots: int,
        condition: CountCondition,
        timespan: timedelta,
    ) -> list[Occurrence] | None:
        """After `occ` was inserted: the first window containing it that satisfies an on-arrival condition.

        The window found is removed from the buffer (its events are consumed, so they never alert twice).
        Windows not containing `occ` were tested when their own latest member arrived, and measures are
        monotone, so only windows containing `occ` can have become true.
        """
        items = self.items
        first = bisect_left(items, occ.time - timespan, key=_time)
        last = bisect_right(items, occ.time, key=_time)
        # In-order arrival: nothing is later than `occ`, so the earliest start's window holds every
        # other candidate window; testing it alone is enough.
        in_order = items[-1].time <= occ.time
        starts = [first] if in_order else range(first, last)
        previous: datetime | None = None
        for i in starts:
            start = items[i].time
            if start == previous:
                continue
            previous = start
            end = bisect_right(items, start + timespan, key=_time)
            if ctype is CorrelationType.EVENT_COUNT:
                holds = condition.holds(end - i)  # no copy: the common, high-volume case
            elif in_order and ctype in (CorrelationType.VALUE_COUNT, CorrelationType.TEMPORAL):
                holds = condition.holds(self._distinct_from(i, ctype))  # the window is the suffix items[i:]
            else:
                holds = condition.holds(measure(ctype, items[i:end], n_slots))
            if holds:
                return self._remove(i, end)
        return None

    def expire(self, horizon: datetime, timespan: timedelta) -> int:
        """Drop occurrences that no future (non-late) event can join: `time + T < horizon`."""
        cut = bisect_left(self.items, horizon - timespan, key=_time)
        self._remove(0, cut)
        return cut

    def close_windows(self, horizon: datetime | None, timespan: timedelta) -> list[list[Occurrence]]:
        """Time-driven conditions: pop every closed window anchored at the oldest occurrence.

        A window `[t0, t0 + T]` is closed once `t0 + T < horizon` (no event inside it can still arrive);
        `horizon=None` closes everything (end of input). Windows do not overlap: the next window starts
        at the first occurrence after the closed one.
        """
        closed: list[list[Occurrence]] = []
        items = self.items
        while items and (horizon is None or items[0].time + timespan < horizon):
            end = bisect_right(items, items[0].time + timespan, key=_time)
            closed.append(self._remove(0, end))
        return closed
