"""Background passes: index, trace, checkpoint, hourly retention; security events ledgered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from collectors.sink import encode_event
from datasoc.event import Event
from datasoc.settings import load_settings
from datasoc.transport import EVENTS
from soc_api.platform import Platform, inputs_enabled
from soc_api.service import Background

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def make_event(i: int) -> Event:
    return Event.from_dict(
        {
            "@timestamp": "2026-11-28T03:00:00Z",
            "event.id": f"e-{i}",
            "event.ingested": "2026-11-28T04:00:00Z",
            "event.action": "dataset.query",
            "event.outcome": "success",
            "observer.collector": "test",
            "log.original": f"q {i}",
            "datasoc.lifecycle": "use",
            "user.name": "lisi",
        }
    )


def test_pass_indexes_traces_and_runs_retention_hourly(tmp_path: Path) -> None:
    platform = Platform.open(load_settings(None, {"DATASOC_DATA_DIR": str(tmp_path)}), now=NOW)
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
        f'data_dir = "{tmp_path / "var"}"\n[collect]\nhttp_port = "off"\n'
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
