"""The correlation stages' Flink side: `Merge` and one keyed operator per stage (parallelism > 1), and
the state stores the pure stage logic (`detection.stream.stages`) runs on, in either layout.

At parallelism 1 the stages run inside the rule operator (`RuleMatch`), their state in two map states
of its one key (`FusedStores`); at parallelism > 1 the rule operator evaluates batches side by side,
`Merge` restores their order and each stage is an operator keyed by bucket (`Correlate`, `KeyedStore`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag, RuntimeContext
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from detection.stream.alerts import health_line
from detection.stream.batch import order
from detection.stream.rules import MAX_CHAIN
from detection.stream.stages import Record, Stage, batch_lists

#: The rule operator's correlation inputs, one element per batch `(pointer line, records)`, to `Merge`.
MERGE = OutputTag("correlate-merge", Types.PICKLED_BYTE_ARRAY())
#: One side output per stage: bucket lists for stage n go to `STAGES[n - 1]`.
STAGES = tuple(OutputTag(f"correlate-{n}", Types.PICKLED_BYTE_ARRAY()) for n in range(1, MAX_CHAIN + 1))


class _Pairs(dict[Any, str]):
    """A dict that iterates as its items, for `MapState.put_all` in both execution modes: PyFlink 2.3
    process mode iterates the argument expecting pairs (TypeError on a plain dict, measured), thread
    mode converts it as a dict."""

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items())


class Merge(KeyedProcessFunction):  # type: ignore[misc]
    """Puts the rule operator's per-batch correlation inputs back in chain order, then hands them to
    stage 1 as bucket lists (one key, parallelism 1).

    With the rule operator at parallelism > 1, batches are evaluated side by side and their inputs
    would reach a correlation in any order (measured: 296 instead of 326 alerts on the demo's events,
    inputs dropped as late). Every batch sends one element, empty or not, so the chain has no gaps.
    """

    def __init__(self, buckets: int) -> None:
        self._buckets = buckets

    def open(self, runtime_context: RuntimeContext) -> None:
        self._expected = runtime_context.get_state(ValueStateDescriptor("expected", Types.LONG()))
        self._pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY()))
        self._advanced = runtime_context.get_state(ValueStateDescriptor("advanced", Types.LONG()))
        self._m_waiting = runtime_context.get_metrics_group().add_group("datasoc").counter("merge_waiting")

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        line, records = value
        pending: dict[tuple[int, int], tuple[str, list[Record]]] = self._pending.value() or {}
        lines = {key: item[0] for key, item in pending.items()}
        held = {item[0]: item[1] for item in pending.values()}
        held[line] = records
        try:
            ordered = order(self._expected.value(), lines, line)
        except ValueError as exc:
            yield "health", health_line("bad_batch", reason=str(exc))
            return
        if ordered.buffered:
            self._m_waiting.inc()
        if ordered.expected is not None:
            self._expected.update(ordered.expected)
        self._pending.update({key: (text, held[text]) for key, text in lines.items()})
        for released in ordered.released:
            last = self._advanced.value()
            elements, advanced = batch_lists(released, held[released], self._buckets, last)
            if advanced != last and advanced is not None:
                self._advanced.update(advanced)
            for element in elements:
                yield "correlate", (1, element)


class KeyedStore:
    """A stage's bucket state as the keyed state of the current key (the bucket) of `Correlate`."""

    def __init__(self, state: Any, events: Any) -> None:
        self._state, self._events = state, events

    def load(self) -> dict[str, Any] | None:
        stored: dict[str, Any] | None = self._state.value()
        return stored

    def save(self, stored: dict[str, Any]) -> None:
        self._state.update(stored)

    def drop(self) -> None:
        self._state.clear()
        self._events.clear()  # empty already (see `StageStore.drop`); clearing costs nothing more

    def event(self, offset: int) -> str | None:
        text: str | None = self._events.get(offset)
        return text

    def put_events(self, texts: dict[int, str]) -> None:
        self._events.put_all(_Pairs(texts))

    def remove_event(self, offset: int) -> None:
        self._events.remove(offset)


class Correlate(KeyedProcessFunction):  # type: ignore[misc]
    """Stage `stage` of the correlations as an operator keyed by bucket (parallelism > 1; see
    `detection.stream.stages.Stage` for what a stage does)."""

    def __init__(self, stage: int, allowed_lateness_ms: int, buckets: int) -> None:
        self._number = stage
        self._lateness_ms = allowed_lateness_ms
        self._buckets = buckets

    def open(self, runtime_context: RuntimeContext) -> None:
        state = runtime_context.get_state(ValueStateDescriptor("correlations", Types.PICKLED_BYTE_ARRAY()))
        events = runtime_context.get_map_state(MapStateDescriptor("events", Types.LONG(), Types.STRING()))
        self._store = KeyedStore(state, events)
        metrics = runtime_context.get_metrics_group().add_group("datasoc")
        self._stage = Stage(
            self._number,
            self._lateness_ms,
            self._buckets,
            alerts=metrics.counter("correlation_alerts"),
            late=metrics.counter("late_events"),
        )

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        bucket, records, when = value
        alerts: list[str] = []
        for kind, payload in self._stage.process(bucket, records, when, self._store):
            if kind == "alert":
                alerts.append(payload)
            else:
                yield kind, payload
        if alerts:  # one element for the element's alerts (see `RuleMatch._evaluate`)
            yield "alert", "\n".join(alerts)


class FusedStores:
    """Every stage's bucket state in two map states of the rule operator's one key (parallelism 1):
    windows by `"<stage>/<bucket>"`, event texts by `"<stage>/<bucket>/<offset>"`."""

    WINDOWS = MapStateDescriptor("correlation-windows", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
    EVENTS = MapStateDescriptor("correlation-events", Types.STRING(), Types.STRING())

    def __init__(self, runtime_context: RuntimeContext) -> None:
        self._windows = runtime_context.get_map_state(self.WINDOWS)
        self._events = runtime_context.get_map_state(self.EVENTS)

    def store(self, stage: int, bucket: int) -> _PrefixStore:
        """The state of `bucket` of `stage`."""
        return _PrefixStore(self._windows, self._events, f"{stage}/{bucket}")


class _PrefixStore:
    def __init__(self, windows: Any, events: Any, prefix: str) -> None:
        self._windows, self._events, self._prefix = windows, events, prefix

    def load(self) -> dict[str, Any] | None:
        stored: dict[str, Any] | None = self._windows.get(self._prefix)
        return stored

    def save(self, stored: dict[str, Any]) -> None:
        self._windows.put(self._prefix, stored)

    def drop(self) -> None:
        self._windows.remove(self._prefix)

    def event(self, offset: int) -> str | None:
        text: str | None = self._events.get(f"{self._prefix}/{offset}")
        return text

    def put_events(self, texts: dict[int, str]) -> None:
        self._events.put_all(_Pairs({f"{self._prefix}/{o}": t for o, t in texts.items()}))

    def remove_event(self, offset: int) -> None:
        self._events.remove(f"{self._prefix}/{offset}")
