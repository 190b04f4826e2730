"""One stream job per test session (Flink start-up is paid once), fed through a real spool."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datasoc.event import Event
from datasoc.transport import ALERTS, EVENTS, Spool
from detection.stream.batch import BATCH_EVENTS
from detection.stream.config import StreamConfig
from soc_api.stream.committer import AlertCommitter, HealthReader
from soc_api.stream.exporter import EventExporter
from soc_api.stream.rules import RuleChangeWriter

RULES_DIR = Path(__file__).parent / "rules"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WAIT_SECONDS = 90.0


def make_event(
    event_id: str,
    at: datetime,
    action: str,
    *,
    user: str = "alice",
    outcome: str = "success",
    classification: str | None = None,
) -> dict[str, Any]:
    """A normalized event in wire form, validated by the kernel's model."""
    data: dict[str, Any] = {
        "@timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event.id": event_id,
        "event.ingested": NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event.action": action,
        "event.outcome": outcome,
        "observer.collector": "test",
        "log.original": f"{action} by {user}",
        "user.name": user,
    }
    if classification:
        data["data.classification"] = classification
    return Event.from_dict(data).to_dict()


def rule_texts(*names: str) -> dict[str, str]:
    """Rule files of the test pack by file name."""
    return {name: (RULES_DIR / name).read_text(encoding="utf-8") for name in names}


@dataclass
class Platform:
    """The test's stand-in for the platform process: holds the spool, exports, commits."""

    root: Path
    spool: Spool
    config: StreamConfig
    exporter: EventExporter
    committer: AlertCommitter
    rules: RuleChangeWriter
    clock: datetime = field(default=NOW)
    health_seen: list[dict[str, Any]] = field(default_factory=list)
    #: PyFlink's `JobClient` of the job, when this process started it.
    client: Any = None

    def feed(self, events: list[dict[str, Any]]) -> None:
        """Append events to the spool and export them to the job."""
        payloads = [json.dumps(e, separators=(",", ":")).encode() for e in events]
        self.spool.append(EVENTS, payloads, now=NOW)
        self.exporter.export_all()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert in the spool's alerts topic (committed only)."""
        self.committer.commit_pending(now=NOW)
        return [json.loads(r.payload) for r in self.spool.read(ALERTS, 0, 1_000_000)]

    def health(self) -> list[dict[str, Any]]:
        """Every committed health record of the job so far (read files are deleted, records kept here)."""
        self.health_seen += HealthReader(Path(self.config.health_dir)).read()
        return self.health_seen

    def count(self, kind: str) -> int:
        """How many committed health records of `kind` the job has written so far."""
        return sum(1 for h in self.health() if h.get("kind") == kind)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
        """Poll until `check()` holds (the job runs asynchronously); fail with `what` on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def alerts_of(self, rule_id: str) -> list[dict[str, Any]]:
        """Committed alerts of one rule."""
        return [a for a in self.alerts() if a["rule.id"] == rule_id]

    def times(self, n: int, step: timedelta) -> list[datetime]:
        """`n` event times after every time handed out before (keeps the shared watermark moving)."""
        out = [self.clock + step * i for i in range(1, n + 1)]
        self.clock = out[-1]
        return out


def open_platform(root: Path, *, batch_events: int | None = None, **config: Any) -> Platform:
    """A fresh spool and job directories under `root`, with the platform side's parts over them."""
    spool = Spool.open(root / "spool")
    job = StreamConfig.under(root / "job", **config)
    job.make_dirs()
    return Platform(
        root=root,
        spool=spool,
        config=job,
        exporter=EventExporter(spool, Path(job.input_dir), batch_events=batch_events or BATCH_EVENTS),
        committer=AlertCommitter(spool, Path(job.alerts_dir)),
        rules=RuleChangeWriter(Path(job.rules_dir)),
    )


@pytest.fixture(scope="session")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The shared job. Events are exported before any rule exists (pitfall 5 regression data)."""
    from detection.stream.job import start

    platform = open_platform(
        tmp_path_factory.mktemp("stream"), checkpoint_interval_ms=300, allowed_lateness_ms=2_000
    )
    spool, config = platform.spool, platform.config
    early = [
        make_event("early-1", NOW, "dataset.download", user="early", classification="core"),
        make_event("early-2", NOW, "dataset.query", user="early", classification="core"),
        # Correlation inputs released from the buffer by a timer (side outputs from on_timer regression).
        *(
            make_event(
                f"early-f{i}", NOW + timedelta(seconds=i), "user.login", user="early", outcome="failure"
            )
            for i in range(3)
        ),
    ]
    platform.feed(early)
    client = platform.client = start(config)
    try:
        time.sleep(3.0)  # the job is reading and buffering before the rules exist
        platform.rules.write(put=rule_texts("core_download.yml", "failed_login.yml", "lone_delete.yml"))
        yield platform
    finally:
        client.cancel().result()
        spool.close()
