"""Send a written demo directory to a running platform the way its sources would: over HTTP ingest.

Each native file is a source with an ingest token whose grant names the file's parser, so the
platform parses, grades and stores the lines itself, exactly as in a deployment. Lines go out in
event-time order across the sources (runs of consecutive lines of one source per request), as they
would arrive live; the times are read with the same parsers, locally, only to order the lines.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from collectors.inputs.tokens import hash_token
from datasoc.event import Event
from soc_api.demo.records import SOURCES
from soc_api.demo.replay import Replayed, replay

#: Lines per request at most (the ingest's body limit is far above this many demo lines).
MAX_LINES = 1000


@dataclass
class FeedReport:
    """What the platform answered, per source: lines accepted and rejected, requests sent."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    requests: int = 0


def demo_tokens(new_token: Callable[[], str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A fresh ingest token per demo source: `(token by source, token-file entries by digest)`."""
    tokens = {source: new_token() for source in SOURCES}
    grants = {
        hash_token(token): {"source": source, "parser": SOURCES[source]} for source, token in tokens.items()
    }
    return tokens, grants


def runs_in_time_order(items: Iterable[Replayed]) -> list[tuple[str, list[bytes]]]:
    """The records in event-time order (unparseable ones where they stand in their file), as runs
    of consecutive records of one source, each at most `MAX_LINES` long."""
    timed: list[tuple[datetime | None, str, int, bytes]] = []
    last: dict[str, datetime | None] = {}
    for item in items:
        when = item.result.timestamp if isinstance(item.result, Event) else last.get(item.file)
        last[item.file] = when
        timed.append((when, item.file, item.position, item.raw))
    # A record before its file's first good one sorts first (a bad line has no time of its own).
    earliest = datetime.min.replace(tzinfo=UTC)
    timed.sort(key=lambda row: (row[0] or earliest, row[1], row[2]))
    runs: list[tuple[str, list[bytes]]] = []
    for _when, source, _position, raw in timed:
        if runs and runs[-1][0] == source and len(runs[-1][1]) < MAX_LINES:
            runs[-1][1].append(raw)
        else:
            runs.append((source, [raw]))
    return runs


def feed(
    demo_dir: Path,
    ingest_url: str,
    tokens: Mapping[str, str],
    *,
    now: datetime,
    new_id: Callable[[], str],
    timeout: float = 60.0,
) -> FeedReport:
    """POST every demo line to `ingest_url` in event-time order; returns the platform's counts."""
    runs = runs_in_time_order(replay(demo_dir, now=now, new_id=new_id))
    url = urlsplit(ingest_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
    report = FeedReport()
    try:
        for source, lines in runs:
            body = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
            headers = {
                "Authorization": f"Bearer {tokens[source]}",
                "Content-Type": "application/x-ndjson",
                # The same request sent again (a demo re-run, a retry) stores nothing twice.
                "Idempotency-Key": hashlib.sha256(source.encode() + b"\0" + body).hexdigest()[:64],
            }
            connection.request("POST", url.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read() or b"{}")
            if response.status != 200:
                raise RuntimeError(f"ingest answered {response.status} for {source}: {answer}")
            report.accepted[source] += int(answer["accepted"])
            report.rejected[source] += int(answer["rejected"])
            report.requests += 1
    finally:
        connection.close()
    return report
