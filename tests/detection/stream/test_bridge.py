"""The platform side: exporter, committer and rule-change writer over a real spool (no Flink)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from datasoc.transport import ALERTS, DEADLETTER, EVENTS, Spool
from detection.pipelines import resolve_pipeline
from detection.stream.alerts import alert_line, single_alert
from detection.stream.batch import BAD_TIME, read_batch
from detection.stream.bridge import AlertCommitter, EventExporter, Progress, RuleChangeWriter
from detection.stream.rules import RuleChange, compile_bundle
from tests.detection.stream.conftest import NOW, make_event, rule_texts


def _alert_lines(n: int) -> list[str]:
    bundle = compile_bundle(rule_texts("core_download.yml"), resolve_pipeline("default"))
    (rule,) = bundle.engine.rules
    return [alert_line(single_alert(rule, make_event(f"e{i}", NOW, "dataset.download"))) for i in range(n)]


def test_exporter_writes_chained_batch_files_and_resumes_from_them(tmp_path: Path) -> None:
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [json.dumps(make_event(f"e{i}", NOW, "x")).encode() for i in range(5)], now=NOW)
        exporter = EventExporter(spool, tmp_path / "in", batch_events=2)
        assert exporter.export(3) == 3
        assert exporter.export(10) == 2
        assert exporter.export(10) == 0
        names = sorted(p.name for p in (tmp_path / "in").iterdir())
        assert names == [f"events-{0:020d}-{3:020d}.jsonl", f"events-{3:020d}-{5:020d}.jsonl"]
        batches = tmp_path / "in-batches"
        first = [read_batch(line, batches) for line in (tmp_path / "in" / names[0]).read_text().splitlines()]
        # Two batches of at most 2 events, chained 0 -> 2 -> 3; only the very first starts the chain.
        assert [(b.prev, b.next, b.genesis, len(b.events)) for b in first] == [
            (0, 2, True, 2),
            (2, 3, False, 1),
        ]
        (second,) = [
            read_batch(line, batches) for line in (tmp_path / "in" / names[1]).read_text().splitlines()
        ]
        assert (second.prev, second.first, second.genesis) == (3, 3, False)
        assert second.events[0]["event.id"] == "e3"
        assert second.time == int(NOW.timestamp() * 1000)
        spool.append(EVENTS, [json.dumps(make_event("e5", NOW, "x")).encode()], now=NOW)
        # A new exporter (after a restart) starts where the files end: nothing is exported twice.
        again = EventExporter(spool, tmp_path / "in")
        assert again.position == 5
        assert again.export_all() == 1


def test_exporter_keeps_bad_payloads_and_heartbeats_after_the_last_record(tmp_path: Path) -> None:
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [b"not json\n", json.dumps({"event.id": "no-time"}).encode()], now=NOW)
        exporter = EventExporter(spool, tmp_path / "in")
        exporter.heartbeat(123)  # genesis: the first line written
        assert exporter.export() == 2
        files = exporter.files()
        assert [p.name.split("-")[0] for p in files] == ["heartbeat", "events"]
        beat = read_batch(files[0].read_text(), exporter.batches)
        assert (beat.prev, beat.next, beat.time, beat.genesis, beat.events) == (0, 0, 123, True, [])
        batch = read_batch(files[1].read_text(), exporter.batches)
        # Kept: the job reports each one (not an object; no event time).
        assert batch.events == ["not json\n", {"event.id": "no-time"}]
        assert batch.time == BAD_TIME
        assert not batch.genesis


def test_exporter_clean_removes_only_evaluated_old_files(tmp_path: Path) -> None:
    with Spool.open(tmp_path / "spool") as spool:
        exporter = EventExporter(spool, tmp_path / "in")
        for i in range(3):
            spool.append(EVENTS, [json.dumps(make_event(f"e{i}", NOW, "x")).encode()], now=NOW)
            exporter.export()
            exporter.heartbeat(i)
        later = datetime.now(UTC) + timedelta(hours=1)
        assert exporter.clean(2, now=datetime.now(UTC), grace=timedelta(minutes=2)) == 0  # too recent
        removed = exporter.clean(2, now=later, grace=timedelta(minutes=2))
        left = [p.name for p in exporter.files()]
        # events 0..1 and 1..2 are evaluated; 2..3 is not and is also the newest (position) file.
        assert left == [f"events-{2:020d}-{3:020d}.jsonl", f"heartbeat-{3:020d}-{2:020d}.jsonl"]
        assert removed == 4
        assert sorted(p.name for p in exporter.batches.iterdir()) == [f"events-{2:020d}-{3:020d}.jsonl"]


def test_progress_follows_the_chain_whatever_order_markers_arrive_in() -> None:
    progress = Progress()
    progress.add(5, 9, False)  # before the chain's start is known
    assert progress.position is None
    progress.add(0, 5, True)
    assert progress.position == 9
    progress.add(12, 15, False)  # after a gap
    progress.add(9, 9, False)  # a heartbeat
    assert progress.position == 9
    progress.add(9, 12, False)
    assert progress.position == 15
    progress.add(3, 5, False)  # a duplicate
    progress.time = 42
    restored = Progress.from_json(progress.to_json())
    assert (restored.position, restored.time) == (15, 42)


def test_committer_moves_only_visible_files_and_skips_known_ids(tmp_path: Path) -> None:
    sink = tmp_path / "alerts"
    sink.mkdir()
    lines = _alert_lines(3)
    (sink / ".alerts-x-0.jsonl.inprogress.1").write_text(lines[2] + "\n")  # not committed yet
    (sink / "alerts-x-0.jsonl").write_text("\n".join(lines[:2]) + "\n")
    with Spool.open(tmp_path / "spool") as spool:
        committer = AlertCommitter(spool, sink)
        report = committer.commit_pending(now=NOW)
        assert (report.files, report.appended, report.duplicates) == (1, 2, 0)
        assert not (sink / "alerts-x-0.jsonl").exists()
        # A re-delivery (say, a crash between append and delete) duplicates nothing.
        (sink / "alerts-x-1.jsonl").write_text(lines[1] + "\n" + "{bad json\n")
        report = committer.commit_pending(now=NOW)
        assert (report.appended, report.duplicates, report.invalid) == (0, 1, 1)
        (dead,) = spool.read(DEADLETTER, 0, 10)  # the bad line is kept, with where it was
        assert json.loads(dead.payload)["source"] == "alerts-x-1.jsonl"
        assert json.loads(dead.payload)["raw_text"] == "{bad json"
    with Spool.open(tmp_path / "spool") as spool:
        restarted = AlertCommitter(spool, sink)  # known ids come back from the topic
        (sink / "alerts-x-2.jsonl").write_text(lines[0] + "\n")
        assert restarted.commit_pending(now=NOW).duplicates == 1
        assert len(spool.read(ALERTS, 0, 100)) == 2


def test_rule_writer_numbers_changes_and_resumes(tmp_path: Path) -> None:
    writer = RuleChangeWriter(tmp_path)
    writer.write(put={"a.yml": "x"})
    writer.write(disable=["a.yml"])
    assert RuleChangeWriter(tmp_path).version == 2
    line = (tmp_path / "rules-000000000002.jsonl").read_text()
    assert RuleChange.from_json(line) == RuleChange(2, disable=("a.yml",))


def test_rule_directory_sync_sends_only_differences(tmp_path: Path) -> None:
    from detection.stream.runner import RuleDirectorySync

    store = tmp_path / "store"
    store.mkdir()
    (store / "a.yml").write_text("A1")
    (store / "b.yml").write_text("B1")
    (store / "b.tests.yml").write_text("not a rule")
    writer = RuleChangeWriter(tmp_path / "changes")
    sync = RuleDirectorySync([store], writer, tmp_path / "manifest.json")
    first = sync.sync()
    assert first is not None
    assert set(first.put) == {"a.yml", "b.yml"}
    assert sync.sync() is None
    (store / "a.yml").write_text("A2")
    (store / "b.yml").unlink()
    # A restarted sync reads what was sent from the manifest.
    second = RuleDirectorySync([store], writer, tmp_path / "manifest.json").sync()
    assert second is not None
    assert dict(second.put) == {"a.yml": "A2"}
    assert second.disable == ("b.yml",)
    assert second.version == 2
