"""Input batches of the job: many spool records per batch, chained so the job can restore their order. Pure
(except `read_batch`, which reads the batch file a pointer names).

Why batches: every element crossing between the JVM and a Python operator costs a serialization round
trip, which for one event per element cost more than the rules themselves (measured: 0.18 of the
in-process engine). Why pointers: carrying the batches themselves (about 200 KB each) through the
job's Python hops cost several times the rules again (measured: 0.13). So the exporter writes the
records of a batch to a *batch file*, one payload per line exactly as in the spool, and the job's
input is a small *pointer line* per batch (a claim check); only the rule operator reads the batch.

Why a chain: the continuous file source reads the files it finds in one directory scan in no fixed
order, and a later file read first moves the watermark past the events of an earlier one (they
would be late for correlation). Each pointer names the spool position its batch starts from (`p`)
and the one after it (`n`); the job's `Sequence` operator releases pointers only in chain order.

Pointer line (keys in this order, so the head is read without parsing the line):

    {"p": prev, "n": next, "t": newest event ms, "g": 0|1, "o": first offset,
     "f": batch file, "at": byte offset, "len": bytes[, "gv": grants version]}

`g` marks the first pointer of an input directory (where a job without state starts). `t` comes from
the `@timestamp` strings of the payloads (not parsed as JSON here; the rule operator parses every
event and decides on its own time). A pointer without `f` and with `p == n` is a heartbeat: it only
moves event time (an idle input, or the end of input). `gv` (when the job traces grants) is the
version of the grant changes written before the batch (`detection.stream.grants`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BATCH_EVENTS = 512
BAD_TIME = -(2**63)  # Flink's Long.MIN_VALUE: "no timestamp", never moves a watermark
END_OF_TIME = 2**63 - 2  # Long.MAX_VALUE - 1
#: An alert-file line that is not an alert: the job evaluated one batch (see `batch_marker`).
MARKER_KEY = "datasoc.batch"
_TIMESTAMP = re.compile(rb'"@timestamp"\s*:\s*"([^"\\]{10,40})"')
_CANONICAL = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def payload_millis(payload: bytes) -> int | None:
    """Event time (ms) of a payload from its first `"@timestamp": "..."` string, without a JSON parse."""
    found = _TIMESTAMP.search(payload)
    if found is None:
        return None
    text = found.group(1).decode("ascii", errors="replace")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int(parsed.timestamp() * 1000) if parsed.tzinfo is not None else None


def newest_millis(payloads: Sequence[bytes]) -> int:
    """The newest event time (ms) among payloads, BAD_TIME when none has one.

    The kernel writes `@timestamp` in one fixed-width UTC form (`2026-11-28T12:00:00.000000Z`), which
    sorts as text: only the greatest such string is parsed. Any other form is parsed on its own.
    """
    canonical: list[bytes] = []
    others: list[int] = []
    for payload in payloads:
        found = _TIMESTAMP.search(payload)
        if found is None:
            continue
        text = found.group(1)
        if _CANONICAL.fullmatch(text):
            canonical.append(text)
        elif (millis := payload_millis(payload)) is not None:
            others.append(millis)
    if canonical:
        newest = payload_millis(b'"@timestamp":"' + max(canonical) + b'"')
        if newest is not None:
            others.append(newest)
    return max(others, default=BAD_TIME)


def _one_line(payload: bytes) -> bytes:
    """A payload as one line of a batch file: JSON whitespace may hold newlines, a line may not."""
    if b"\n" not in payload and b"\r" not in payload:
        return payload
    text = payload.decode("utf-8", errors="replace")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except ValueError:
        return json.dumps(text, ensure_ascii=False).encode("utf-8")  # kept as text; the job reports it


def encode_batch(
    records: Sequence[tuple[int, bytes]],
    *,
    prev: int,
    file: str,
    at: int,
    genesis: bool = False,
    grants_version: int | None = None,
) -> tuple[bytes, str]:
    """The batch file bytes of spool records `(offset, payload)` (contiguous offsets, at least one) to be
    stored in `file` at byte `at`, and the pointer line naming them (with `gv` when given)."""
    if not records:
        raise ValueError("a batch needs at least one record (use encode_heartbeat for none)")
    first = records[0][0]
    if [offset for offset, _ in records] != list(range(first, first + len(records))):
        raise ValueError(f"batch offsets must be contiguous from {first}")
    if prev > first:
        raise ValueError(f"batch prev {prev} is after its first offset {first}")
    payloads = [payload for _, payload in records]
    data = b"\n".join(payloads) + b"\n"
    if data.count(b"\n") != len(payloads) or b"\r" in data:  # rare: re-encode the payloads that need it
        data = b"\n".join(_one_line(payload) for payload in payloads) + b"\n"
    newest = newest_millis(payloads)
    head = f'{{"p":{prev},"n":{records[-1][0] + 1},"t":{newest},"g":{int(genesis)}'
    tail = "" if grants_version is None else f',"gv":{grants_version}'
    return data, f'{head},"o":{first},"f":{json.dumps(file)},"at":{at},"len":{len(data)}{tail}}}\n'


def encode_heartbeat(position: int, millis: int, *, genesis: bool = False) -> str:
    """A pointer without a batch at `position` that moves event time to `millis`."""
    return f'{{"p":{position},"n":{position},"t":{millis},"g":{int(genesis)},"o":{position}}}\n'


def batch_time(line: str) -> int:
    """The `t` of a pointer line, read from its head (BAD_TIME when absent or unreadable)."""
    head = line.find(',"t":', 0, 80)
    if head < 0:
        return BAD_TIME
    end = line.find(",", head + 5)
    try:
        return int(line[head + 5 : end])
    except ValueError:
        return BAD_TIME


def batch_grants_version(line: str) -> int:
    """The `gv` of a pointer line (0 when it has none: no grants needed)."""
    at = line.rfind(',"gv":')
    if at < 0:
        return 0
    try:
        return int(line[at + 6 : line.index("}", at)])
    except ValueError:
        return 0


def batch_chain(line: str) -> tuple[int, int, bool]:
    """`(prev, next, genesis)` of a pointer line, read from its head (ValueError when not a pointer)."""
    try:
        p_end = line.index(",", 5)
        n_end = line.index(",", p_end + 5)
        g_at = line.index(',"g":', n_end) + 5
        if not (line.startswith('{"p":') and line[p_end : p_end + 5] == ',"n":'):
            raise ValueError
        return int(line[5:p_end]), int(line[p_end + 5 : n_end]), line[g_at] == "1"
    except (ValueError, IndexError):
        raise ValueError(f"not a batch pointer: {line[:80]!r}") from None


@dataclass(frozen=True)
class BatchMarker:
    """The alert-file line saying "lane `lane` of `lanes` has evaluated batch `prev..next`": the job
    writes it after the batch's alerts, through the same exactly-once sink, so a committed marker means
    the lane's alerts of the batch are committed (also those its time raised in the correlations: that
    time travels in band, before the marker's checkpoint barrier). `time` is the batch's time."""

    prev: int
    next: int
    genesis: bool
    time: int
    lane: int = 0
    lanes: int = 1

    def to_line(self) -> str:
        """Wire form: `{"datasoc.batch": {"p", "n", "g", "t", "l", "lanes"}}`."""
        mark = {"p": self.prev, "n": self.next, "g": int(self.genesis), "t": self.time}
        return json.dumps({MARKER_KEY: {**mark, "l": self.lane, "lanes": self.lanes}})

    @classmethod
    def from_dict(cls, data: Any) -> BatchMarker:
        """The marker of a decoded line's `datasoc.batch` value (ValueError when malformed)."""
        try:
            values = [data[k] for k in ("p", "n", "g", "t")] + [data.get("l", 0), data.get("lanes", 1)]
        except (KeyError, TypeError):
            raise ValueError(f"batch marker needs p, n, g and t: {data!r:.200}") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise ValueError(f"batch marker values must be integers: {data!r:.200}")
        prev, nxt, genesis, when, lane, lanes = values
        if not 0 <= lane < lanes:
            raise ValueError(f"batch marker lane {lane} is not one of {lanes}")
        return cls(prev, nxt, bool(genesis), when, lane, lanes)


def batch_marker(line: str, lane: int = 0, lanes: int = 1) -> str:
    """The marker line of the batch of pointer `line` for lane `lane` of `lanes` (see `BatchMarker`)."""
    prev, nxt, genesis = batch_chain(line)
    return BatchMarker(prev, nxt, genesis, batch_time(line), lane, lanes).to_line()


@dataclass(frozen=True)
class Batch:
    """A batch read through its pointer: `events[i]` is the record at spool offset `first + i`, decoded
    (a dict), or its text when it is not a JSON object (the job reports it)."""

    prev: int
    next: int
    time: int
    genesis: bool
    first: int
    events: list[Any]
    #: Each record's text as stored (what the correlation state keeps instead of the decoded event).
    texts: list[str] = field(default_factory=list)


def read_batch(pointer: str, directory: Path) -> Batch:
    """The batch a pointer line names, read from `directory` (a heartbeat has no events).

    Raises ValueError (also for a missing, short or mismatched file), KeyError or TypeError when bad.
    """
    head = json.loads(pointer)
    prev, nxt, when, first = head["p"], head["n"], head["t"], head["o"]
    if not all(isinstance(v, int) for v in (prev, nxt, when, first)):
        raise TypeError("pointer p, n, t and o must be integers")
    if "e" in head:  # an inline batch (the Kafka job: no batch files to share with a cluster)
        inline = head["e"]
        if not isinstance(inline, list) or not all(isinstance(t, str) for t in inline):
            raise TypeError("inline batch e must be a list of record texts")
        if len(inline) != nxt - first:
            raise ValueError(f"inline batch of {prev}..{nxt} holds {len(inline)} records")
        return Batch(prev, nxt, when, bool(head["g"]), first, _decoded(inline), list(inline))
    if "f" not in head:
        if prev != nxt:
            raise ValueError(f"pointer {prev}..{nxt} names no batch file")
        return Batch(prev, nxt, when, bool(head["g"]), first, [])
    name, at, length = head["f"], head["at"], head["len"]
    if not isinstance(name, str) or "/" in name or name.startswith(".") or not name:
        raise ValueError(f"pointer names no batch file: {name!r}")
    try:
        with (directory / name).open("rb") as handle:
            handle.seek(at)
            raw = handle.read(length)
    except OSError as exc:
        raise ValueError(f"batch file {name}: {exc.strerror}") from None
    if len(raw) != length or not raw.endswith(b"\n") or raw.count(b"\n") != nxt - first:
        raise ValueError(
            f"batch file {name} at {at}: does not hold the {nxt - first} records of {prev}..{nxt}"
        )
    # One decode for the batch (a newline byte is never part of a UTF-8 sequence or a replacement).
    texts = raw.decode("utf-8", errors="replace").split("\n")
    texts.pop()
    return Batch(prev, nxt, when, bool(head["g"]), first, _decoded(texts), texts)


def _decoded(texts: Sequence[str]) -> list[Any]:
    events: list[Any] = []
    for text in texts:
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        # A JSON string is how the exporter kept a payload that was not one line of JSON: show its text.
        events.append(event if isinstance(event, dict | str) else text)
    return events


def inline_pointer(first: int, texts: Sequence[str], *, genesis: bool) -> str:
    """A pointer line carrying its batch (`e`): records `first` to `first + len(texts) - 1`.

    For a job without batch files (the Kafka job on a cluster); `t` is the newest `@timestamp`.
    """
    times = [payload_millis(text.encode("utf-8")) for text in texts]
    newest = max((t for t in times if t is not None), default=BAD_TIME)
    head = {"p": first, "n": first + len(texts), "t": newest, "g": int(genesis), "o": first}
    return json.dumps({**head, "e": list(texts)}, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Ordered:
    """What `order` decided for one arriving pointer."""

    expected: int | None
    released: list[str]
    buffered: bool = False
    duplicates: int = 0
    stale_heartbeats: int = 0


def order(expected: int | None, pending: dict[tuple[int, int], str], line: str) -> Ordered:
    """Release pointers in chain order. `pending` ((prev, next) -> line) is updated in place.

    `expected` is the position the next batch must start from (None: nothing released yet, so only
    a genesis pointer may start the chain). A batch starting before `expected` was released already
    (a duplicate, dropped and counted); one starting after it waits in `pending` until the gap is
    filled. At one position a heartbeat (prev == next) goes before the data batch starting there:
    the exporter writes a heartbeat only when every record before it has been exported. A heartbeat
    that arrives after data from its position was released is stale (it only moves time, which that
    data has moved already) and is dropped, counted apart from duplicates.
    """
    prev, nxt, genesis = batch_chain(line)
    if prev == nxt and expected is not None and prev < expected:
        return Ordered(expected, [], stale_heartbeats=1)
    if expected is None and not genesis:
        pending[(prev, nxt)] = line
        return Ordered(expected, [], buffered=True)
    if expected is not None and prev < expected:
        return Ordered(expected, [], duplicates=1)
    if expected is not None and prev > expected:
        pending[(prev, nxt)] = line
        return Ordered(expected, [], buffered=True)
    released = [line]
    expected = nxt
    while True:
        key = min((k for k in pending if k[0] == expected), key=lambda k: k[1], default=None)
        if key is None:
            break
        released.append(pending.pop(key))
        expected = key[1]
    stale = [k for k in pending if k[0] < expected]
    for key in stale:
        del pending[key]
    beats = sum(1 for k in stale if k[0] == k[1])
    return Ordered(expected, released, duplicates=len(stale) - beats, stale_heartbeats=beats)
