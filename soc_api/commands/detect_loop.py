"""How `datasoc detect` runs the detection loop (`detection.loop`): in one process or several.

`detect_events(events, bundle, correlator, out)` feeds each `(index, event)` to one `DetectionLoop`
in input (or `--sort`) order and prints what it finds: a line per alerting single-event match, a line
per completed correlation, problems (a rule that raised, a late event) on stderr.
`detect_lines(stream, ..., workers=N)` runs the single-event part of JSON-lines input in N forked
worker processes, batch by batch, each with its own `DetectionLoop` whose correlator only records
which events fed which rules; this process prints the results and feeds the real correlator in input
order, so the output is the same line for line.

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import IO, TYPE_CHECKING, Any

import orjson

from detection.errors import EventFormatError
from soc_api.commands.event_stream import event_time, read_records

if TYPE_CHECKING:
    from detection.bundle import RuleBundle
    from detection.loop import Detections, Problem, SequentialCorrelator
    from detection.rule import CompiledRule

#: Events per batch handed to a worker.
BATCH_EVENTS = 512
#: Output is written in blocks of this many lines (one write call instead of one per line).
_WRITE_EVERY = 256


@dataclass
class DetectStats:
    """What one run saw."""

    events: int = 0
    matches: int = 0
    unknown_logsource: int = 0


class _Printer:
    """Prints matches as `{"event_index": N, "rule_id": ..., "rule_title": ...}` lines (the bytes
    `json.dumps` gives, from a suffix made once per rule), correlations with the list of their events'
    indexes (the CLI contract of docs/architecture.md), and problems on stderr."""

    def __init__(self, out: IO[str], stats: DetectStats) -> None:
        self._out = out
        self._stats = stats
        self._suffixes: dict[int, str] = {}
        self._lines: list[str] = []

    def single(self, index: int, rule: CompiledRule) -> None:
        """An alerting single-event match of the event at `index`."""
        suffix = self._suffixes.get(id(rule))
        if suffix is None:
            tail = json.dumps({"rule_id": rule.id, "rule_title": rule.title}, ensure_ascii=False)
            suffix = self._suffixes[id(rule)] = ", " + tail[1:] + "\n"
        self._lines.append('{"event_index": ' + str(index) + suffix)
        self._stats.matches += 1
        if len(self._lines) >= _WRITE_EVERY:
            self.write()

    def problem(self, problem: Problem) -> None:
        """Something the loop reports instead of stopping (stderr, after what was found before it)."""
        self.write()
        self._out.flush()
        import click

        click.echo(
            f"{problem.what}: rule {problem.rule}, event {problem.position}: {problem.detail}", err=True
        )

    def found(self, found: Detections) -> None:
        """Everything in `found`, in order (singles, correlations, problems); `found` is emptied."""
        for single in found.singles:
            self.single(single.position, single.rule)
        for correlated in found.correlated:
            match = correlated.match
            line = {
                "event_index": list(match.event_indexes),
                "rule_id": match.rule_ref,
                "rule_title": match.title,
            }
            self._lines.append(json.dumps(line, ensure_ascii=False) + "\n")
        for problem in found.problems:
            self.problem(problem)
        found.clear()

    def write(self) -> None:
        """Write what is buffered."""
        if self._lines:
            self._out.write("".join(self._lines))
            self._lines = []

    def finish(self) -> None:
        """Write everything."""
        self.write()
        self._out.flush()


def _moment(bundle: RuleBundle, event: Mapping[str, Any]) -> datetime | None:
    # Event time matters only to correlations: parsing it costs a few microseconds per event.
    return event_time(event) if bundle.correlations.specs else None  # type: ignore[arg-type]


def detect_events(
    events: Iterable[tuple[int, dict[str, Any]]],
    bundle: RuleBundle,
    correlator: SequentialCorrelator,
    out: IO[str],
    *,
    count_logsources: bool = False,
) -> DetectStats:
    """The detection loop in this process over `(index, event)` pairs in order; prints what it finds."""
    from detection.loop import DetectionLoop, Detections
    from detection.view import build_view

    stats = DetectStats()
    printer = _Printer(out, stats)
    loop = DetectionLoop(bundle, correlator)
    found = Detections()
    told = bundle.engine.index.told
    for index, event in events:
        stats.events += 1
        if count_logsources and not told(build_view(event)[1]):
            stats.unknown_logsource += 1
        loop.event(index, event, _moment(bundle, event), found)
        printer.found(found)
    correlator.flush(found)
    printer.found(found)
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
    """A worker's answer, per event in order: the positions (in `bundle.engine.rules`) of the rules
    that alert, and those whose matches feed correlations with the event itself; the loop's problems;
    the count of events whose logsource could not be told; or the error that stopped the batch."""

    singles: list[tuple[int, int]] = field(default_factory=list)
    feeds: list[tuple[int, tuple[int, ...], dict[str, Any]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    events: int = 0
    unknown: int = 0
    error: tuple[int, str] | None = None


class _Recorder:
    """A worker's correlator: it only writes down which rules each event fed (the parent correlates)."""

    def __init__(self, positions: Mapping[int, int]) -> None:
        self.positions = positions
        self.fed: list[tuple[int, tuple[int, ...], dict[str, Any]]] = []

    def use(self, bundle: RuleBundle) -> None:
        """Fixed rule set."""

    def feed(
        self,
        position: int,
        event: Mapping[str, Any],
        moment: datetime | None,
        text: str | None,
        rules: Sequence[CompiledRule],
        out: Detections,
    ) -> None:
        """Keep what the parent's correlator needs: the event and the rules it matched."""
        self.fed.append((position, tuple(self.positions[id(r)] for r in rules), dict(event)))


@dataclass(frozen=True)
class _WorkerState:
    bundle: RuleBundle
    want_events: bool
    count_logsources: bool


#: Set in the parent just before the workers are forked; each worker reads its inherited copy.
_STATE: _WorkerState | None = None
#: A worker's own loop and rule positions, made on its first batch (partitions and matchers then
#: live in the worker).
_LOOP: Any = None


def _work(batch: _Batch) -> _Result:
    global _LOOP  # one per worker process
    from datasoc.winevent import flatten
    from detection.loop import DetectionLoop, Detections
    from detection.view import build_view

    state = _STATE
    assert state is not None, "workers are forked after the state is set"
    bundle = state.bundle
    if _LOOP is None:
        _LOOP = (DetectionLoop(bundle), {id(rule): p for p, rule in enumerate(bundle.engine.rules)})
    loop, positions = _LOOP
    recorder = _Recorder(positions)
    loop.correlator = recorder if state.want_events else None
    told = bundle.engine.index.told
    result, found = _Result(), Detections()
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
                    break
            if record.__class__ is not dict:
                result.error = (index, f"expected a JSON object, got {type(record).__name__}")
                break
        else:
            record = item
        event = flatten(record)
        if state.count_logsources and not told(build_view(event)[1]):
            result.unknown += 1
        loop.event(index, event, None, found)
        result.singles.extend((single.position, positions[id(single.rule)]) for single in found.singles)
        result.problems.extend(found.problems)
        found.clear()
        index += 1
    result.feeds = recorder.fed
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
    bundle: RuleBundle,
    correlator: SequentialCorrelator,
    out: IO[str],
    *,
    workers: int,
    count_logsources: bool = False,
) -> DetectStats:
    """The events of `stream` through the loop: the single-event rules in `workers` forked processes,
    the correlations here, everything printed here in input order (see module docstring)."""
    global _STATE  # the fork hands it to the workers
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        events = flattened(read_records(stream))
        return detect_events(events, bundle, correlator, out, count_logsources=count_logsources)
    from detection.loop import Detections

    stats = DetectStats()
    printer = _Printer(out, stats)
    rules = bundle.engine.rules
    found = Detections()
    _STATE = _WorkerState(bundle, bool(bundle.correlations.specs), count_logsources)
    # Collect what loading left, then freeze the rest: the garbage collector of a worker then never
    # writes to the pages it shares with this process.
    gc.collect()
    gc.freeze()
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(workers) as pool:
            pending: deque[Any] = deque()

            def drain(keep: int) -> None:
                while len(pending) > keep:
                    result: _Result = pending.popleft().get()
                    _replay(result, rules, bundle, correlator, printer, found)
                    stats.events += result.events
                    stats.unknown_logsource += result.unknown
                    if result.error is not None:
                        printer.finish()
                        raise EventFormatError(*result.error)

            for batch in _batches(stream):
                pending.append(pool.apply_async(_work, (batch,)))
                drain(2 * workers)
            drain(0)
    finally:
        _STATE = None
        gc.unfreeze()
    correlator.flush(found)
    printer.found(found)
    printer.finish()
    return stats


def _replay(
    result: _Result,
    rules: Sequence[CompiledRule],
    bundle: RuleBundle,
    correlator: SequentialCorrelator,
    printer: _Printer,
    found: Detections,
) -> None:
    """A worker's batch, event by event as the loop in one process prints it: an event's alerting
    matches, then the correlations it completes; the batch's problems after its matches."""
    singles, feeds = deque(result.singles), deque(result.feeds)
    while singles or feeds:
        index = min(singles[0][0] if singles else _END, feeds[0][0] if feeds else _END)
        while singles and singles[0][0] == index:
            printer.single(index, rules[singles.popleft()[1]])
        if feeds and feeds[0][0] == index:
            _, positions, event = feeds.popleft()
            correlator.feed(index, event, _moment(bundle, event), None, [rules[p] for p in positions], found)
            printer.found(found)
    for problem in result.problems:
        printer.problem(problem)


_END = 1 << 62  # after every event position
