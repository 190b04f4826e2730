"""Bulk indexing: `create` actions in bounded requests, item outcomes sorted, retries with back-off.

Each event is a `create` of `_id = event.id` in its day's index, so a replay is a 409 conflict
(already stored: first write wins) rather than an overwrite. Each item of a `_bulk` answer is
one of:
- created (201): new;
- conflict (409): already there, not new, not an error;
- retry: 429 (the write queue is full: the server pushes back), 5xx, or the index went missing;
  only these items are sent again, after a back-off that doubles up to `RetryPolicy.max_s`;
- rejected: any other error (a mapping conflict, a field the engine refuses): final, the event
  goes to the dead-letter topic with the server's reason.

When retries run out the batch fails with `StoreUnavailableError` and the caller keeps its events
(they wait in the transport). `sleep` is a parameter, so tests do not wait. A request whose answer
was lost (a timeout) may have been applied: its retry then answers 409 for those events, which
are stored but not counted as new (the count is a lower bound after such a retry; the data is
exact).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from datasoc.store.errors import StoreUnavailableError

#: A bulk request holds at most this many actions and about this many bytes.
MAX_DOCS: Final = 2000
MAX_BYTES: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently transient bulk failures are retried."""

    attempts: int = 8
    base_s: float = 0.25
    max_s: float = 15.0

    def delay(self, attempt: int) -> float:
        """Back-off before retry number `attempt` (1-based)."""
        return float(min(self.max_s, self.base_s * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class Action:
    """One `create`: where, which id, and the document's JSON."""

    index: str
    doc_id: str
    source: str

    def lines(self) -> str:
        header = json.dumps({"create": {"_index": self.index, "_id": self.doc_id}}, ensure_ascii=False)
        return f"{header}\n{self.source}\n"


@dataclass(slots=True)
class Outcome:
    """How the items of one bulk answer ended, by position in the request."""

    created: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    retry: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    missing_index: bool = False


def _reason(error: object) -> str:
    if isinstance(error, Mapping):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, Mapping):
            text += f" ({cause.get('type', '')}: {cause.get('reason', '')})"
        return text[:1000]
    return str(error)[:1000]


def classify(answer: Mapping[str, Any]) -> Outcome:
    """Sort the items of a `_bulk` answer (pure)."""
    outcome = Outcome()
    for position, item in enumerate(answer.get("items", [])):
        result: Mapping[str, Any] = item.get("create") or next(iter(item.values()), {})
        status = int(result.get("status", 0))
        error = result.get("error")
        if 200 <= status < 300 and not error:
            outcome.created.append(position)
        elif status == 409:
            outcome.conflicts.append(position)
        elif status == 429 or status >= 500:
            outcome.retry.append((position, _reason(error)))
        elif status == 404 or (
            isinstance(error, Mapping) and error.get("type") == "index_not_found_exception"
        ):
            outcome.missing_index = True
            outcome.retry.append((position, _reason(error)))
        else:
            outcome.rejected.append((position, _reason(error)))
    return outcome


def chunks(
    actions: Sequence[Action], max_docs: int = MAX_DOCS, max_bytes: int = MAX_BYTES
) -> Iterator[list[int]]:
    """Positions of `actions` grouped into requests of at most `max_docs` and about `max_bytes`."""
    group: list[int] = []
    size = 0
    for position, action in enumerate(actions):
        cost = len(action.source) + len(action.index) + len(action.doc_id) + 40
        if group and (len(group) >= max_docs or size + cost > max_bytes):
            yield group
            group, size = [], 0
        group.append(position)
        size += cost
    if group:
        yield group


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Of every action: created, already there, or refused with a reason (positions in the input)."""

    created: tuple[int, ...]
    conflicts: tuple[int, ...]
    rejected: tuple[tuple[int, str], ...]
    retries: int


def run_bulk(
    actions: Sequence[Action],
    send: Callable[[str], Mapping[str, Any]],
    *,
    policy: RetryPolicy,
    on_missing_index: Callable[[], None],
    sleep: Callable[[float], None] = time.sleep,
    location: str = "search store",
) -> BulkResult:
    """Send `actions` through `send` (one NDJSON body per call), retrying transient failures.

    `send` raises `StoreUnavailableError` when the whole request failed transiently; that is
    retried like 429 items. Raises `StoreUnavailableError` once `policy.attempts` are used up.
    """
    created: list[int] = []
    conflicts: list[int] = []
    rejected: list[tuple[int, str]] = []
    retries = 0
    for group in chunks(actions):
        pending = group
        attempt = 0
        while pending:
            body = "".join(actions[p].lines() for p in pending)
            try:
                outcome = classify(send(body))
            except StoreUnavailableError as exc:
                outcome = Outcome(retry=[(i, str(exc)) for i in range(len(pending))])
            created.extend(pending[i] for i in outcome.created)
            conflicts.extend(pending[i] for i in outcome.conflicts)
            rejected.extend((pending[i], reason) for i, reason in outcome.rejected)
            if not outcome.retry:
                break
            attempt += 1
            if attempt >= policy.attempts:
                raise StoreUnavailableError(
                    location,
                    "bulk",
                    f"{len(outcome.retry)} document(s) still failing after {attempt} attempts: "
                    f"{outcome.retry[0][1]}",
                    hint="the events stay in the transport and are indexed once the server recovers",
                )
            if outcome.missing_index:
                on_missing_index()
            retries += 1
            sleep(policy.delay(attempt))
            pending = [pending[i] for i, _ in outcome.retry]
    return BulkResult(tuple(created), tuple(conflicts), tuple(rejected), retries)
