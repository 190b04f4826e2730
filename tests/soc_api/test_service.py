"""Background passes: index, trace, checkpoint, hourly retention; security events ledgered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.sink import encode_event
from datasoc.event import Event
from datasoc.settings import load_settings
from datasoc.transport import ALERTS, EVENTS
from detection.stream.batch import END_OF_TIME
from soc_api.detector import decode_alert
from soc_api.platform import Platform, inputs_enabled
from soc_api.service import Background, DetectionStalledError

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
# The in-process engine keeps these tests free of Flink (tests/soc_api/test_flink_engine.py has the job).
INPROCESS = {"DATASOC_DETECTION__ENGINE": "inprocess"}


def _event(event_id: str, action: str, user: str, original: str, **extra: str) -> Event:
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


def test_pass_indexes_traces_and_runs_retention_hourly(tmp_path: Path) -> None:
    platform = Platform.open(load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path), **INPROCESS}), now=NOW)
    try:
        background = Background(platform)
        platform.spool.append(EVENTS, [encode_event(make_event(i)) for i in range(4)], now=NOW)
        first = background.run_pass(NOW)
        assert (first.index.stored, first.trail.ledgered, first.retention_ran) == (4, 4, True)
        signed = platform.ledger.store.latest_checkpoint()
        assert signed is not None
        assert signed.checkpoint.size >= 4  # the traced accesses are covered by a signed head
        later = background.run_pass(NOW + timedelta(minutes=30))
        assert (later.index.read, later.retention_ran) == (0, False)
        assert background.run_pass(NOW + timedelta(hours=1, minutes=1)).retention_ran
        background.ledger_security_event(
            {
                "kind": "login.denied",
                "actor": "peer:127.0.0.1",
                "subject": "collector:http-ingest",
                "payload": {"reason": "unknown token"},
            },
            NOW + timedelta(hours=2),
        )
        kinds = [e.kind for e in platform.ledger.store.entries()]
        assert kinds.count("access") == 4
        assert kinds.count("purge") == 2
        assert kinds[-1] == "login.denied"
    finally:
        platform.close()


def test_inputs_enabled_by_ports() -> None:
    assert inputs_enabled(load_settings(None, {}).collect)
    off = load_settings(None, {"DATASOC_COLLECT__HTTP_PORT": "off"}).collect
    assert off.http_port is None
    assert not inputs_enabled(off)


def test_configured_file_tails_feed_the_platform_and_resume(tmp_path: Path) -> None:
    from soc_api.demo import generate

    lines = generate(seed=3, start=datetime(2026, 3, 2, tzinfo=UTC), days=1).lines("apigw_access.jsonl")
    log = tmp_path / "gw" / "access.log"
    log.parent.mkdir()
    log.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    config = tmp_path / "datasoc.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[detection]\nengine = "inprocess"\n[collect]\nhttp_port = "off"\n'
        f'[[collect.tail]]\nsource = "gateway"\nparser = "apigw_json"\npatterns = ["{log.parent}/*.log"]\n',
        encoding="utf-8",
    )
    settings = load_settings(config, {})
    platform = Platform.open(settings, now=NOW)
    try:
        assert Background(platform).run_pass(NOW).index.stored == 10
    finally:
        platform.close()
    with log.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines[10:15]) + "\n")
    platform = Platform.open(settings, now=NOW)  # a restart: the tail resumes at its offset
    try:
        report = Background(platform).run_pass(NOW + timedelta(seconds=1))
        assert (report.index.read, report.index.stored) == (5, 5)
    finally:
        platform.close()


def audit_off(i: int) -> Event:
    return _event(f"off-{i}", "audit.disable", "gaojun", f"auditctl -e 0 #{i}")


class StandInJob:
    """Stands in for the job's exactly-once sink (no Flink here): for every input line not seen yet,
    the alerts of its events (built by the in-process engine: the job's builder) and then its batch
    marker, written as a checkpoint-visible part file. Heartbeats give a marker only."""

    def __init__(self, platform: Platform) -> None:
        from soc_api.platform import load_detector

        assert platform.stream is not None
        self.config = platform.stream.config
        self.detector = load_detector(platform.settings)
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


def test_flink_engine_pass_ticks_the_runner_and_reports_committed_alerts(tmp_path: Path) -> None:
    # The default engine; the job itself is not started here (test_flink_engine.py runs it).
    platform = Platform.open(load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)}), now=NOW)
    try:
        assert platform.detector is None
        assert platform.stream is not None
        assert Path(platform.stream.config.checkpoint_dir) == tmp_path / "stream" / "checkpoints"
        background = Background(platform)
        events = [make_event(0), audit_off(1), make_event(2), audit_off(3)]
        platform.spool.append(EVENTS, [encode_event(e) for e in events], now=NOW)
        first = background.run_pass(NOW)  # exports the events to the job's input; nothing committed yet
        assert (first.index.stored, first.detect.read, first.detect.alerts) == (4, 0, 0)
        StandInJob(platform).commit()
        second = background.run_pass(NOW + timedelta(seconds=1))
        assert second.detect.read == second.detect.committed_offset == 4
        assert second.detect.alerts == 2
        assert dict(second.detect.by_warning_level) == {"red": 2}
        alerts = [decode_alert(r.payload) for r in platform.spool.read(ALERTS, 0, 10)]
        assert sorted(a.event_ids for a in alerts) == [("off-1",), ("off-3",)]
        # Nothing pending: catch_up returns at once with the job at the end of `events`.
        assert background.catch_up(lambda: NOW, lambda _s: None).committed_offset == 4
    finally:
        platform.close()


def test_catch_up_names_the_stalled_job_after_its_timeout(tmp_path: Path) -> None:
    platform = Platform.open(load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)}), now=NOW)
    try:
        platform.spool.append(EVENTS, [encode_event(make_event(0))], now=NOW)
        ticks = iter(range(1000))
        slept: list[float] = []

        def clock() -> datetime:
            return NOW + timedelta(seconds=next(ticks))

        with pytest.raises(DetectionStalledError, match=r"did not reach offset 1 within 10 s") as caught:
            Background(platform).catch_up(clock, slept.append, timeout=timedelta(seconds=10))
        assert str(tmp_path / "stream" / "log") in str(caught.value)
        assert len(slept) == 9  # one clock reading per tick: deadline 10 s after the first, then no more
    finally:
        platform.close()


def test_drain_flushes_the_job_and_waits_for_the_flush_marker(tmp_path: Path) -> None:
    platform = Platform.open(load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)}), now=NOW)
    try:
        assert platform.stream is not None
        platform.spool.append(EVENTS, [encode_event(e) for e in (audit_off(1), make_event(2))], now=NOW)
        job = StandInJob(platform)
        ticks = iter(range(1000))
        readings: list[datetime] = []

        def clock() -> datetime:
            readings.append(NOW + timedelta(seconds=next(ticks)))
            return readings[-1]

        # The stand-in job evaluates what was exported while the platform sleeps between ticks.
        report = Background(platform).drain(clock, lambda _s: job.commit(), timeout=timedelta(minutes=1))
        assert (report.read, report.alerts, report.committed_offset) == (2, 1, 2)
        names = [p.name for p in Path(platform.stream.config.input_dir).iterdir()]
        assert any(n.startswith("heartbeat-") and n.endswith(f"{END_OF_TIME:020d}.jsonl") for n in names)
        # Done exactly when the flush's own marker is committed (the end of time, in band): not
        # before, and without waiting for anything after it.
        assert platform.stream.flushed
        assert platform.stream.committer.progress.time == END_OF_TIME
        assert [n for n in names if n.startswith("heartbeat-")] == [
            n for n in names if n.endswith(f"{END_OF_TIME:020d}.jsonl")
        ]  # no idle heartbeat was needed after the flush
    finally:
        platform.close()
