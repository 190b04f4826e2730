"""The rule operator's keyed state, as the pure parts' storage protocols: correlation buckets
(`detection.stream.correlate.BucketStore`) and the grant trace's cumulative records
(`detection.trace.UsageStore`), each in map states of the operator's current key (a lane)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pyflink.common import Types
from pyflink.datastream import RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from detection.stream.correlate import BucketState


class _Pairs(dict[Any, str]):
    """A dict that iterates as its items, for `MapState.put_all` in both execution modes: PyFlink 2.3
    process mode iterates the argument expecting pairs (TypeError on a plain dict, measured), thread
    mode converts it as a dict."""

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items())


class MapStateStore:
    """The correlations' `BucketStore` over two map states of the rule operator's current key (lane):
    bucket states by bucket, event texts by `"<bucket>/<position>"`."""

    BUCKETS = MapStateDescriptor("correlation-buckets", Types.INT(), Types.PICKLED_BYTE_ARRAY())
    TEXTS = MapStateDescriptor("correlation-texts", Types.STRING(), Types.STRING())

    def __init__(self, runtime_context: RuntimeContext) -> None:
        self._states = runtime_context.get_map_state(self.BUCKETS)
        self._texts = runtime_context.get_map_state(self.TEXTS)

    def load(self, bucket: int) -> BucketState | None:
        state: BucketState | None = self._states.get(bucket)
        return state

    def save(self, bucket: int, state: BucketState) -> None:
        self._states.put(bucket, state)

    def drop(self, bucket: int) -> None:
        self._states.remove(bucket)

    def text(self, bucket: int, position: int) -> str | None:
        text: str | None = self._texts.get(f"{bucket}/{position}")
        return text

    def put_texts(self, bucket: int, texts: Mapping[int, str]) -> None:
        self._texts.put_all(_Pairs({f"{bucket}/{p}": t for p, t in texts.items()}))

    def remove_text(self, bucket: int, position: int) -> None:
        self._texts.remove(f"{bucket}/{position}")


class MapStateUsage:
    """The grant trace's cumulative records (`detection.trace.UsageStore`) in a map state of the rule
    operator's current key (lane): grant id -> records."""

    USAGE = MapStateDescriptor("grant-usage", Types.STRING(), Types.LONG())

    def __init__(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_map_state(self.USAGE)

    def get(self, grant_id: str) -> int:
        value = self._state.get(grant_id)
        return int(value) if value is not None else 0

    def put(self, grant_id: str, used: int) -> None:
        self._state.put(grant_id, used)
