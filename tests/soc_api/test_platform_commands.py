"""`datasoc demo` and `datasoc run` end to end on the embedded parts, through the CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from datasoc.event import Event
from datasoc.store import SearchQuery, SQLiteEventStore
from soc_api.cli import cli


def all_events(store: SQLiteEventStore) -> list[Event]:
    events: list[Event] = []
    cursor = None
    while True:
        page = store.search(
            SearchQuery(
                start=datetime(1970, 1, 1, tzinfo=UTC),
                end=datetime(9999, 1, 1, tzinfo=UTC),
                limit=1000,
                after=cursor,
            )
        )
        events.extend(page.events)
        if page.next_cursor is None:
            return events
        cursor = page.next_cursor


# The in-process engine keeps these tests free of Flink (tests/soc_api/test_flink_engine.py has the job).
# The demo of 2026-03-02 is older than the default 184 days of retention: keep it for ten years.
# Any free port: another platform on this machine may hold the default ones.
INPROCESS = {
    "DATASOC_DETECTION__ENGINE": "inprocess",
    "DATASOC_STORE__RETENTION_DAYS": "3650",
    "DATASOC_COLLECT__HTTP_PORT": "0",
    "DATASOC_API__PORT": "0",
}


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env=INPROCESS)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_runs_data_through_spool_into_store(tmp_path: Path) -> None:
    output = run_cli("demo", "--data-dir", str(tmp_path), "--start", "2026-03-02", "--seed", "7")
    indexed = re.search(r"accepted (\d+), newly stored (\d+), dead-lettered (\d+), in store (\d+)", output)
    assert indexed is not None, output
    read, new, dead, total = (int(n) for n in indexed.groups())
    assert new == total == read  # every accepted line is in the store, graded
    rows = dict(re.findall(r"^  (\S+\.(?:jsonl|csv|log))\s+(\d+)\s+(?:\d+)\s+\d+$", output, re.M))
    assert set(rows) == {"apigw_access.jsonl", "mysql_audit.jsonl", "postgresql.csv", "auth.log"}
    assert sum(int(n) for n in rows.values()) == read
    truth = json.loads((tmp_path / "demo" / "seed-7" / "ground_truth.json").read_text(encoding="utf-8"))
    for incident in truth["incidents"]:
        assert incident["id"] in output
    demo_dir = tmp_path / "demo" / "seed-7"
    with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
        originals = {event.original for event in all_events(store)}
    assert len(originals) == read
    for incident in truth["incidents"]:
        for evidence in incident["evidence"]:
            lines = (demo_dir / evidence["file"]).read_text(encoding="utf-8").splitlines()
            for number in evidence["lines"]:
                # Each evidence line reached the store as (the start of) an event's log.original.
                assert any(o.startswith(lines[number - 1]) for o in originals), (incident["id"], number)
    # Detection ran over the demo stream: the pack's alerts are on the alerts topic, by warning level.
    summary = re.search(r"alerts \(告警\): (\d+) — (.*)$", output, re.M)
    assert summary is not None, output
    assert int(summary.group(1)) >= 8
    assert "红 red" in summary.group(2)
    assert "管理员关闭审计 / Auditing switched off" in output
    # The alert store grouped them: INC-01's twelve downloads are one alert with a count of 12, and
    # every notification reached the demo's local receivers once (none pending, none dead).
    store_line = re.search(r"alert store \(预警, grouped\): (\d+) alerts from (\d+) detection alerts", output)
    assert store_line is not None, output
    grouped, detections = int(store_line.group(1)), int(store_line.group(2))
    assert detections == int(summary.group(1))
    assert grouped < detections
    assert re.search(r"×12 +核心或重要数据批量导出 / Bulk export of core or important data .*luowen", output)
    incident = re.search(r"INC-01 \(luowen\): .*核心或重要数据批量导出 ×12", output)
    assert incident is not None, output
    delivered = re.search(
        r"notifications \(通报\): delivered (\d+) .*, pending 0, dead-lettered 0, receipts (\d+)", output
    )
    assert delivered is not None, output
    received = re.search(r"local receivers \(本地接收端\): processed (\d+) .*duplicates 0, refused 0", output)
    assert received is not None, output
    assert int(received.group(1)) == int(delivered.group(1)) > 0
    assert int(delivered.group(2)) > 0  # the city command system acknowledged the red alerts
    # Running the demo again replays the same events: the store keeps each once.
    again = run_cli("demo", "--data-dir", str(tmp_path), "--start", "2026-03-02", "--seed", "7")
    assert f"accepted {read}, newly stored 0, dead-lettered {dead}, in store {total}" in again
    # Same events, same alert ids: the alert count does not grow on a replay.
    assert re.search(r"alerts \(告警\): (\d+)", again).group(1) == summary.group(1)  # type: ignore[union-attr]
    # Same alert ids: the store takes none in twice, and nothing is notified twice.
    assert f"alert store (预警, grouped): {grouped} alerts from {detections} detection alerts" in again
    assert f"delivered {delivered.group(1)} " in again
    assert re.search(r"local receivers \(本地接收端\): processed 0 ", again)


def test_run_once_indexes_pending_and_exits(tmp_path: Path) -> None:
    import gc

    thresholds = gc.get_threshold()
    run_cli("demo", "--data-dir", str(tmp_path), "--start", "2026-03-02", "--days", "1")
    output = CliRunner().invoke(
        cli, ["run", "--data-dir", str(tmp_path), "--once"], catch_exceptions=False, env=INPROCESS
    )
    assert output.exit_code == 0, output.output
    # The service's collector settings end with the command (this process goes on).
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0


def test_invalid_config_stops_start_with_key_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[store]\nbackend = "mongodb"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "--config", str(config), "--once"])
    assert result.exit_code != 0
    assert "store.backend = 'mongodb'" in result.output
    assert "'sqlite'" in result.output


def test_demo_ledgers_accesses_and_exports_a_verifiable_bundle(tmp_path: Path) -> None:
    import zipfile

    output = run_cli("demo", "--data-dir", str(tmp_path), "--start", "2026-03-02", "--days", "1")
    bundle = tmp_path / "exports" / "INC-01" / "bundle.zip"
    pub = tmp_path / "exports" / "INC-01" / "pubkey.pem"
    assert f"datasoc verify {bundle} --pubkey {pub}" in output
    verified = run_cli("verify", str(bundle), "--pubkey", str(pub))
    assert "OK:" in verified
    assert "complete for actor " in verified  # every access of the incident's actor, provably
    assert "and kind access" in verified
    assert "OK:" in run_cli("ledger", "verify", str(tmp_path / "ledger"), "--pubkey", str(pub))
    # A bundle whose entries were altered after export is refused.
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(forged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "entries.jsonl":
                data = data.replace(b'"data.records":', b'"data.records":1', 1)
            dst.writestr(item, data)
    result = CliRunner().invoke(cli, ["verify", str(forged), "--pubkey", str(pub)])
    assert result.exit_code != 0


def test_demo_refuses_a_start_the_retention_job_would_purge(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["demo", "--data-dir", str(tmp_path), "--start", "2020-01-01"],
        env={"DATASOC_STORE__RETENTION_DAYS": "184"},
    )
    assert result.exit_code == 2
    assert "store.retention_days (184)" in result.output
    assert not (tmp_path / "spool").exists()
