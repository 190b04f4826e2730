"""The composition root's steps, one round at a time: index, trace, checkpoint, retention, security
events, governance reload, file tails, retention gaps; and the Flink job's step with a stand-in job."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.errors import CatalogError
from collectors.sink import encode_event
from datasoc.event import Event
from datasoc.settings import Settings, load_settings
from datasoc.store import FieldFilter, SearchQuery
from datasoc.transport import ALERTS, EVENTS, RetentionPolicy
from detection.stream.batch import END_OF_TIME
from soc_api.daemon import Daemon, Roles
from soc_api.detector import decode_alert

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
# The in-process engine keeps most of these tests free of Flink (test_flink_engine.py runs the job).
# Port 0 everywhere: a fixed port (8600) collides with whatever else runs on the machine.
INPROCESS = {
    "DATASOC_DETECTION__ENGINE": "inprocess",
    "DATASOC_COLLECT__HTTP_PORT": "off",
    "DATASOC_API__PORT": "0",
}


def _settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path), **INPROCESS, **env})


def _daemon(settings: Settings, clock: datetime = NOW) -> Daemon:
    counter = itertools.count()
    return Daemon.open(settings, roles=Roles(), clock=lambda: clock, new_id=lambda: f"id-{next(counter)}")


def _event(event_id: str, action: str, user: str, original: str, **extra: object) -> Event:
    return Event.from_dict(
        {
            "@timestamp": "2026-11-28T03:00:00Z",
            "event.id": event_id,
            "event.ingested": "2026-11-28T04:00:00Z",
            "event.action": action,
            "event.outcome": "success",
            "observer.collector": "test",
            "log.original": original,
            "user.name": user,
            **extra,
        }
    )


def make_event(i: int) -> Event:
    return _event(f"e-{i}", "dataset.query", "lisi", f"q {i}", **{"datasoc.lifecycle": "use"})


def audit_off(i: int) -> Event:
    return _event(f"off-{i}", "audit.disable", "gaojun", f"auditctl -e 0 #{i}")


def _kinds(daemon: Daemon) -> list[str]:
    return [e.kind for e in daemon.platform.ledger.store.entries()]


def test_one_round_of_each_step_indexes_traces_detects_checkpoints_and_runs_retention(tmp_path: Path) -> None:
    daemon = _daemon(_settings(tmp_path))
    try:
        steps = [
            "indexer",
            "trail",
            "proposals",
            "detection",
            "alert_store",
            "notifier",
            "sla",
            "bulletins",
            "security",
            "audit_outbox",
            "checkpoint",
            "silence",
            "retention",
            "governance",
        ]
        assert list(daemon.steps) == steps
        events = [make_event(0), audit_off(1), make_event(2), make_event(3)]
        daemon.platform.spool.append(EVENTS, [encode_event(e) for e in events], now=NOW)
        for name in daemon.steps:
            daemon.supervisor.run_once(name)
        status = {s.name: s for s in daemon.supervisor.statuses()}
        assert (status["indexer"].work, status["indexer"].lag) == (4, 0)
        assert (status["trail"].work, status["detection"].work) == (4, 4)
        alerts = [decode_alert(r.payload) for r in daemon.platform.spool.read(ALERTS, 0, 10)]
        assert [a.event_ids for a in alerts] == [("off-1",)]
        # The alert store took the committed alert in (one round after detection's).
        assert (status["alert_store"].work, status["alert_store"].lag) == (1, 0)
        assert _kinds(daemon).count("alert.new") == 1
        assert _kinds(daemon).count("access") == 3
        assert _kinds(daemon).count("purge") == 1
        signed = daemon.platform.ledger.store.latest_checkpoint()
        assert signed is not None
        assert signed.checkpoint.size >= 3
        assert daemon.readiness().ready
    finally:
        daemon.close()


def test_security_events_are_folded_per_peer_and_window_and_ledgered_once(tmp_path: Path) -> None:
    from collectors.security import SecurityEvent

    daemon = _daemon(_settings(tmp_path))
    try:
        for second in range(3):  # pushed by a listener; the step ledgers them after their window
            at = NOW + timedelta(seconds=second)
            event = SecurityEvent.create(
                kind="login.denied",
                peer="10.0.0.9",
                subject="collector:http-ingest",
                reason="unknown token",
                at=at,
            )
            daemon.security.push(event)
        assert _kinds(daemon).count("login.denied") == 0  # never on the listener's thread
        daemon._ledger_security_events(NOW + timedelta(seconds=30))  # the window is still open
        assert _kinds(daemon).count("login.denied") == 0
        daemon._ledger_security_events(NOW + timedelta(minutes=1, seconds=5))
        (denied,) = [e for e in daemon.platform.ledger.store.entries() if e.kind == "login.denied"]
        assert (denied.actor, denied.payload["count"]) == ("peer:10.0.0.9", 3)
    finally:
        daemon.close()


def test_a_retention_gap_is_skipped_counted_and_ledgered_and_every_consumer_goes_on(tmp_path: Path) -> None:
    settings = _settings(tmp_path, DATASOC_SPOOL__SEGMENT_BYTES=str(64 * 1024))
    daemon = _daemon(settings)
    try:
        spool = daemon.platform.spool
        for name in ("indexer", "trail", "detection"):  # running, at offset 0, when the load comes
            daemon.supervisor.run_once(name)
        filler = [encode_event(make_event(i)) for i in range(1500)]
        for at in range(0, len(filler), 100):  # a segment rolls between appends: several of 64 KiB
            spool.append(EVENTS, filler[at : at + 100], now=NOW)
        spool.apply_retention(NOW, RetentionPolicy(max_age=timedelta(days=1), max_bytes=64 * 1024))
        start = spool.range(EVENTS).start
        assert start > 0  # the oldest segments are gone before any consumer read them
        for name in ("indexer", "trail", "detection"):
            daemon.supervisor.run_once(name)
        gaps = [e for e in daemon.platform.ledger.store.entries() if e.kind == "system.gap"]
        assert sorted(e.actor for e in gaps) == ["system:detector", "system:indexer", "system:trail"]
        assert {(e.payload["skipped"], e.payload["from_offset"], e.payload["to_offset"]) for e in gaps} == {
            (start, 0, start)
        }
        # Not a permanent stop: what is still retained, and what comes later, is processed.
        spool.append(EVENTS, [encode_event(audit_off(1))], now=NOW)
        for name in ("indexer", "trail", "detection"):
            daemon.supervisor.run_once(name)
        assert daemon.platform.store.get("off-1") is not None
        assert daemon.platform.store.get(f"e-{start}") is not None
        assert daemon.platform.store.get("e-0") is None
        assert [decode_alert(r.payload).event_ids for r in spool.read(ALERTS, 0, 10)] == [("off-1",)]
        assert {s.name: s.lag for s in daemon.supervisor.statuses()}["indexer"] == 0
    finally:
        daemon.close()


def _catalog(tmp_path: Path, grade: str) -> Path:
    from soc_api.demo import generate
    from soc_api.demo.generator import CATALOG

    files = generate(seed=3, start=datetime(2026, 3, 2, tzinfo=UTC), days=1).files
    data = json.loads(files[CATALOG])
    for dataset in data["datasets"]:
        dataset["classification"] = grade
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_tails_are_enriched_from_the_governance_files_which_reload_on_change(tmp_path: Path) -> None:
    from soc_api.demo import generate

    lines = generate(seed=3, start=datetime(2026, 3, 2, tzinfo=UTC), days=1).lines("apigw_access.jsonl")
    log = tmp_path / "gw" / "access.log"
    log.parent.mkdir()
    log.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    catalog = _catalog(tmp_path, "core")
    config = tmp_path / "datasoc.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[detection]\nengine = "inprocess"\n[collect]\nhttp_port = "off"\n'
        f'[governance]\ncatalog = "{catalog}"\n'
        f'[[collect.tail]]\nsource = "gateway"\nparser = "apigw_json"\npatterns = ["{log.parent}/*.log"]\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    everything = SearchQuery(start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC))

    def graded(daemon: Daemon, grade: str) -> int:
        query = SearchQuery(
            start=everything.start,
            end=everything.end,
            filters=(FieldFilter.eq("data.classification", grade),),
        )
        return daemon.platform.store.count(query)

    daemon = _daemon(settings)
    try:
        assert "tail" in daemon.steps
        assert "governance" in daemon.steps
        daemon.supervisor.run_once("tail")
        daemon.supervisor.run_once("indexer")
        assert daemon.platform.store.count(everything) == 10
        assert graded(daemon, "core") > 0
        assert graded(daemon, "important") == 0
        # The catalog is regraded: later events carry the new grade, without a restart.
        _catalog(tmp_path, "important")
        daemon.supervisor.run_once("governance")
        with log.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines[10:20]) + "\n")
        daemon.supervisor.run_once("tail")
        daemon.supervisor.run_once("indexer")
        assert graded(daemon, "important") > 0
        # A catalog that turns bad keeps the last good one in force and makes the step fail.
        catalog.write_text("{not json", encoding="utf-8")
        with pytest.raises(CatalogError):
            daemon.supervisor.run_once("governance")
        assert daemon.enrichment.current().catalog is not None
        assert not daemon.readiness().ready
    finally:
        daemon.close()
    with log.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines[20:25]) + "\n")
    catalog = _catalog(tmp_path, "general")
    daemon = _daemon(settings)  # a restart: the tail resumes at its offset
    try:
        daemon.supervisor.run_once("tail")
        report = daemon.supervisor.run_once("indexer")
        assert report.work == 5
        assert daemon.platform.store.count(everything) == 25
    finally:
        daemon.close()


def test_a_missing_governance_file_refuses_to_open_naming_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path, DATASOC_GOVERNANCE__CATALOG=str(tmp_path / "nope.json"))
    with pytest.raises(CatalogError, match=r"nope\.json"):
        _daemon(settings)


def test_collector_roles_run_no_detection_and_stream_roles_only_detection(tmp_path: Path) -> None:
    counter = itertools.count()
    collector = Daemon.open(
        _settings(tmp_path / "a"),
        roles=Roles.collector(index=False),
        clock=lambda: NOW,
        new_id=lambda: str(next(counter)),
    )
    try:
        assert list(collector.steps) == ["security", "audit_outbox", "checkpoint", "silence", "governance"]
    finally:
        collector.close()
    streamer = Daemon.open(_settings(tmp_path / "b"), roles=Roles.stream(), clock=lambda: NOW, new_id=str)
    try:
        assert list(streamer.steps) == ["detection"]
    finally:
        streamer.close()


class StandInJob:
    """Stands in for the job's exactly-once sink (no Flink here): for every input line not seen yet,
    the alerts of its events (built by the in-process engine: the job's builder) and then its batch
    marker, written as a checkpoint-visible part file. Heartbeats give a marker only."""

    def __init__(self, daemon: Daemon) -> None:
        from soc_api.platform import load_detector

        assert daemon.platform.stream is not None
        self.config = daemon.platform.stream.config
        self.detector = load_detector(daemon.platform.settings)
        self.seen: set[str] = set()
        self.files = 0

    def commit(self) -> None:
        from detection.alerts import alert_line
        from detection.stream.batch import batch_marker, read_batch

        lines: list[str] = []
        for path in sorted(Path(self.config.input_dir).glob("*.jsonl")):
            for pointer in path.read_text(encoding="utf-8").splitlines():
                if pointer in self.seen:
                    continue
                self.seen.add(pointer)
                if path.name.startswith("events"):
                    batch = read_batch(pointer, Path(self.config.batches_dir))
                    for i, data in enumerate(batch.events):
                        event = Event.from_dict(data).to_dict()
                        lines += [alert_line(a) for a in self.detector.alerts_for(batch.first + i, event)]
                lines.append(batch_marker(pointer))
        if lines:
            self.files += 1
            part = Path(self.config.alerts_dir) / f"alerts-0-{self.files}.jsonl"
            part.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _flink_settings(tmp_path: Path) -> Settings:
    return load_settings(
        None,
        {"DATASOC_DATA_DIR": str(tmp_path), "DATASOC_COLLECT__HTTP_PORT": "off", "DATASOC_API__PORT": "0"},
    )


def test_the_flink_step_ticks_the_runner_and_commits_the_jobs_alerts(tmp_path: Path) -> None:
    # The default engine; the job itself is not started here (test_flink_engine.py runs it).
    daemon = _daemon(_flink_settings(tmp_path))
    try:
        stream = daemon.platform.stream
        assert daemon.platform.detector is None
        assert stream is not None
        assert Path(stream.config.checkpoint_dir) == tmp_path / "stream" / "checkpoints"
        events = [make_event(0), audit_off(1), make_event(2), audit_off(3)]
        daemon.platform.spool.append(EVENTS, [encode_event(e) for e in events], now=NOW)
        first = daemon.supervisor.run_once("detection")  # exports to the job's input; nothing committed
        assert (first.work, first.lag) == (0, 4)
        StandInJob(daemon).commit()
        second = daemon.supervisor.run_once("detection")
        assert (second.work, second.lag) == (4, 0)
        alerts = [decode_alert(r.payload) for r in daemon.platform.spool.read(ALERTS, 0, 10)]
        assert sorted(a.event_ids for a in alerts) == [("off-1",), ("off-3",)]
        assert {a.warning_level for a in alerts} == {"red"}
    finally:
        daemon.close()


def test_drain_flushes_the_job_and_waits_for_the_flush_marker(tmp_path: Path) -> None:
    daemon = _daemon(_flink_settings(tmp_path))
    try:
        stream = daemon.platform.stream
        assert stream is not None
        daemon.platform.spool.append(
            EVENTS, [encode_event(e) for e in (audit_off(1), make_event(2))], now=NOW
        )
        daemon.supervisor.run_once("detection")
        job = StandInJob(daemon)
        ticks = itertools.count()

        def clock() -> datetime:
            return NOW + timedelta(seconds=next(ticks))

        # The stand-in job evaluates what was exported while the platform sleeps between ticks.
        daemon.drain(clock, lambda _s: job.commit(), timeout=timedelta(minutes=1))
        names = [p.name for p in Path(stream.config.input_dir).iterdir()]
        assert any(n.startswith("heartbeat-") and n.endswith(f"{END_OF_TIME:020d}.jsonl") for n in names)
        assert stream.flushed
        assert stream.committer.progress.time == END_OF_TIME
        assert len(list(daemon.platform.spool.read(ALERTS, 0, 10))) == 1
    finally:
        daemon.close()


def test_wait_caught_up_names_the_step_that_is_behind_after_its_timeout(tmp_path: Path) -> None:
    from soc_api.daemon import CatchUpTimeoutError

    daemon = _daemon(_flink_settings(tmp_path))
    try:
        daemon.platform.spool.append(EVENTS, [encode_event(make_event(0))], now=NOW)
        ticks = itertools.count()

        def clock() -> datetime:
            return NOW + timedelta(seconds=next(ticks))

        def sleep(_seconds: float) -> None:  # the steps' rounds, as their threads would run them
            for name in ("indexer", "trail", "detection"):
                daemon.supervisor.run_once(name)

        with pytest.raises(CatchUpTimeoutError, match=r"not caught up with offset 1 within 10 s: detection"):
            daemon.wait_caught_up(clock, sleep, timeout=timedelta(seconds=10))
    finally:
        daemon.close()


def test_the_audit_outbox_step_moves_cli_entries_into_the_ledger(tmp_path: Path) -> None:
    from soc_api.identity.audit import OutboxAudit, audit_draft

    daemon = _daemon(_settings(tmp_path))
    try:
        assert daemon.platform.state is not None
        outbox = OutboxAudit(daemon.platform.state)
        receipt = outbox.record(
            audit_draft(
                now=daemon.clock(),
                kind="admin.token_revoked",
                actor="cli:root",
                subject="token:x",
                outcome="success",
            )
        )
        assert receipt.outbox_id is not None
        assert outbox.pending(receipt.outbox_id)
        daemon.supervisor.run_once("audit_outbox")
        assert not outbox.pending(receipt.outbox_id)
        assert "admin.token_revoked" in _kinds(daemon)
    finally:
        daemon.close()
