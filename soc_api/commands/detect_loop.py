"""The per-event loop of `datasoc detect`: match, feed correlations, print; in one process or several.

`detect_events(events, engine, correlations, out)` is the loop itself: each `(index, event)` is
matched by the single-event engine, its matches printed, and, when correlation rules exist, fed to the
correlation engine in input (or `--sort`) order. `detect_lines(stream, ..., workers=N)` runs the
matching of JSON-lines input in N forked worker processes, batch by batch, while this process prints
the results and runs the correlations in input order, so the output is the same line for line.

Workers are forked after the rules are loaded (they share the parent's compiled rules copy-on-write
and each builds its own partitions and matchers); at most `2 * workers` batches are in flight, so
memory does not grow with the input. A line that is not one JSON object on its own (a value spread
over several lines, as evtx_dump writes) switches the rest of the input to the one-process reader,
which takes such values; a line that looks like one object but does not parse is an error naming the
event and the line, as in one process.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import IO, TYPE_CHECKING, Any

import orjson

from detection.errors import EventFormatError
from soc_api.commands.event_stream import event_time, read_records

if TYPE_CHECKING:
    from detection.correlation import CorrelationEngine
    from detection.engine import CompiledRule, Engine

#: Events per batch handed to a worker.
BATCH_EVENTS = 512
#: Output is written in blocks of this many events (one write call instead of one per line).
_WRITE_EVERY = 256


@dataclass
class DetectStats:
    """What one run saw."""

    events: int = 0
    matches: int = 0
    untimed: int = 0
    unknown_logsource: int = 0


def _correlation_line(match: Any) -> str:
    # Correlation matches name all their events (ARCHITECTURE.md, CLI contract).
    line = {"event_index": list(match.event_indexes), "rule_id": match.rule_ref, "rule_title": match.title}
    return json.dumps(line, ensure_ascii=False) + "\n"


class _Printer:
    """Prints matches as `{"event_index": N, "rule_id": ..., "rule_title": ...}` lines (the bytes
    `json.dumps` gives, from a suffix made once per rule) and feeds the correlation engine."""

    def __init__(self, out: IO[str], correlations: CorrelationEngine | None, stats: DetectStats) -> None:
        self._out = out
        self._correlations = correlations
        self._stats = stats
        self._suffixes: dict[int, str] = {}
        self._lines: list[str] = []

    def matched(self, index: int, rules: Sequence[CompiledRule], event: dict[str, Any] | None) -> None:
        """One event's matches (`event` is needed only when correlations exist and it matched)."""
        lines, suffixes = self._lines, self._suffixes
        for rule in rules:
            if rule.output:
                suffix = suffixes.get(id(rule))
                if suffix is None:
                    tail = json.dumps({"rule_id": rule.id, "rule_title": rule.title}, ensure_ascii=False)
                    suffix = suffixes[id(rule)] = ", " + tail[1:] + "\n"
                lines.append('{"event_index": ' + str(index) + suffix)
                self._stats.matches += 1
        correlations = self._correlations
        if correlations is not None and rules and event is not None:
            moment = event_time(event)
            if moment is None:
                self._stats.untimed += 1
            else:
                references = {r.id for r in rules if r.id} | {r.name for r in rules if r.name}
                found = correlations.process(index, event, moment, references)
                lines.extend(_correlation_line(m) for m in found)
        if len(lines) >= _WRITE_EVERY:
            self.write()

    def write(self) -> None:
        """Write what is buffered."""
        if self._lines:
            self._out.write("".join(self._lines))
            self._lines = []

    def finish(self) -> None:
        """Close open correlation windows and write everything."""
        if self._correlations is not None:
            self._lines.extend(_correlation_line(m) for m in self._correlations.flush())
        self.write()
        self._out.flush()


def detect_events(
    events: Iterable[tuple[int, dict[str, Any]]],
    engine: Engine,
    correlations: CorrelationEngine | None,
    out: IO[str],
    *,
    count_logsources: bool = False,
) -> DetectStats:
    """The per-event loop in this process: match each `(index, event)` in order, print, correlate."""
    from detection.view import build_view

    stats = DetectStats()
    printer = _Printer(out, correlations, stats)
    told = engine.index.told
    for index, event in events:
        stats.events += 1
        raw, low = build_view(event)
        if count_logsources and not told(low):
            stats.unknown_logsource += 1
        printer.matched(index, engine.match_view(raw, low), event)
    printer.finish()
    return stats


def flattened(records: Iterable[dict[str, Any]], start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(index, flattened event)` for each record (evtx_dump records flattened, others as they are)."""
    from datasoc.winevent import flatten

    for index, record in enumerate(records, start=start):
        yield index, flatten(record)


# -- several processes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Batch:
    """Events for a worker: raw JSON lines (with their line numbers) or records already decoded."""

    first_index: int
    lines: tuple[tuple[int, bytes], ...] = ()
    records: tuple[dict[str, Any], ...] = ()


@dataclass
class _Result:
    """A worker's answer: per matched event its index and rule positions (and the event itself
    when correlations need it), the count of events whose logsource could not be told, or the error."""

    matches: list[tuple[int, tuple[int, ...], dict[str, Any] | None]] = field(default_factory=list)
    events: int = 0
    unknown: int = 0
    error: tuple[int, str] | None = None


@dataclass(frozen=True)
class _WorkerState:
    engine: Engine
    want_events: bool
    count_logsources: bool


#: Set in the parent just before the workers are forked; each worker reads its inherited copy.
_STATE: _WorkerState | None = None


def _work(batch: _Batch) -> _Result:
    from datasoc.winevent import flatten
    from detection.view import build_view

    state = _STATE
    assert state is not None, "workers are forked after the state is set"
    engine, want, count = state.engine, state.want_events, state.count_logsources
    result = _Result()
    index = batch.first_index
    items: Iterable[tuple[int, Any]] = batch.lines or ((0, r) for r in batch.records)
    for number, item in items:
        if item.__class__ is bytes:
            try:
                record = orjson.loads(item)
            except orjson.JSONDecodeError:
                try:  # what orjson refuses and the standard library takes: integers beyond 64 bits
                    record = json.loads(item)
                except ValueError as exc:
                    result.error = (index, f"invalid JSON at line {number}: {exc}")
                    return result
            if record.__class__ is not dict:
                result.error = (index, f"expected a JSON object, got {type(record).__name__}")
                return result
        else:
            record = item
        event = flatten(record)
        raw, low = build_view(event)
        if count and not engine.index.told(low):
            result.unknown += 1
        matched = engine.matching(raw, low)
        if matched:
            result.matches.append((index, tuple(matched), event if want else None))
        index += 1
    result.events = index - batch.first_index
    return result


def _batches(stream: IO[bytes]) -> Iterator[_Batch]:
    """Batches of single-line JSON objects; after the first line that is not one, decoded records."""
    index = 0
    lines: list[tuple[int, bytes]] = []
    numbered = enumerate(stream, start=1)
    for number, line in numbered:
        text = line.strip()
        if not text:
            continue
        if not (text.startswith(b"{") and text.endswith(b"}")):
            if lines:
                yield _Batch(index, tuple(lines))
                index += len(lines)
            rest = chain([line], (line for _, line in numbered))
            yield from _record_batches(read_records(rest, first_line=number, first_index=index), index)
            return
        lines.append((number, text))
        if len(lines) == BATCH_EVENTS:
            yield _Batch(index, tuple(lines))
            index += len(lines)
            lines = []
    if lines:
        yield _Batch(index, tuple(lines))


def _record_batches(records: Iterator[dict[str, Any]], index: int) -> Iterator[_Batch]:
    batch: list[dict[str, Any]] = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH_EVENTS:
            yield _Batch(index, records=tuple(batch))
            index += len(batch)
            batch = []
    if batch:
        yield _Batch(index, records=tuple(batch))


def default_workers() -> int:
    """Worker processes when `--workers` is not given: the CPUs this process may use, at most 2
    (each worker holds its own partitions and matchers: about 70 MiB with all of SigmaHQ)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(2, available))


def detect_lines(
    stream: IO[bytes],
    engine: Engine,
    correlations: CorrelationEngine | None,
    out: IO[str],
    *,
    workers: int,
    count_logsources: bool = False,
) -> DetectStats:
    """Match the events of `stream` in `workers` forked processes; print and correlate here, in order."""
    global _STATE  # the fork hands it to the workers
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return detect_events(
            flattened(read_records(stream)), engine, correlations, out, count_logsources=count_logsources
        )
    stats = DetectStats()
    printer = _Printer(out, correlations, stats)
    rules = engine.rules
    _STATE = _WorkerState(engine, correlations is not None, count_logsources)
    # Collect what loading left (pySigma objects of a cold load), then freeze the rest: the garbage
    # collector of a worker then never writes to the pages it shares with this process.
    gc.collect()
    gc.freeze()
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(workers) as pool:
            pending: deque[Any] = deque()

            def drain(keep: int) -> None:
                while len(pending) > keep:
                    result: _Result = pending.popleft().get()
                    for index, positions, event in result.matches:
                        printer.matched(index, [rules[p] for p in positions], event)
                    stats.events += result.events
                    stats.unknown_logsource += result.unknown
                    if result.error is not None:
                        printer.write()
                        raise EventFormatError(*result.error)

            for batch in _batches(stream):
                pending.append(pool.apply_async(_work, (batch,)))
                drain(2 * workers)
            drain(0)
    finally:
        _STATE = None
        gc.unfreeze()
    printer.finish()
    return stats
