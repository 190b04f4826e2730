"""The exporter: spool events to the job's input directory (no Flink)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from datasoc.transport import EVENTS, Spool
from detection.stream.batch import BAD_TIME, read_batch
from soc_api.stream.exporter import EventExporter
from tests.detection.stream.conftest import NOW, make_event


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
