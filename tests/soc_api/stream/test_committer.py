"""The committer: committed alert files into the spool, progress from batch markers (no Flink)."""

from __future__ import annotations

import json
from pathlib import Path

from datasoc.transport import ALERTS, DEADLETTER, Spool
from detection.alerts import alert_line, single_alert
from detection.bundle import compile_bundle
from detection.pipelines import resolve_pipeline
from detection.stream.batch import BatchMarker
from soc_api.stream.committer import AlertCommitter, Progress
from tests.detection.stream.conftest import NOW, make_event, rule_texts


def _alert_lines(n: int) -> list[str]:
    bundle = compile_bundle(rule_texts("core_download.yml"), resolve_pipeline("default"))
    (rule,) = bundle.engine.rules
    return [alert_line(single_alert(rule, make_event(f"e{i}", NOW, "dataset.download"))) for i in range(n)]


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


def test_a_batch_counts_once_every_lane_has_committed_its_marker() -> None:
    progress = Progress()
    progress.mark(BatchMarker(0, 5, True, 100, lane=1, lanes=2))
    assert progress.position is None  # lane 0's alerts of the batch may still be uncommitted
    restored = Progress.from_json(progress.to_json())  # a restart between the two lanes' checkpoints
    restored.mark(BatchMarker(0, 5, True, 100, lane=1, lanes=2))  # a re-read file: still one lane
    assert restored.position is None
    restored.mark(BatchMarker(0, 5, True, 100, lane=0, lanes=2))
    assert (restored.position, restored.time, restored.waiting) == (5, 100, {})
    restored.mark(BatchMarker(0, 5, True, 100, lane=0, lanes=2))  # after it counted: nothing waits
    assert restored.waiting == {}


def test_lines_that_are_not_alerts_are_dead_lettered_with_what_is_wrong(tmp_path: Path) -> None:
    sink = tmp_path / "alerts"
    sink.mkdir()
    (good,) = _alert_lines(1)
    wrong_id = json.dumps({**json.loads(good), "alert.id": "x-1"})
    wrong_level = json.dumps({**json.loads(good), "warning_level": "purple"})
    (sink / "alerts-x-0.jsonl").write_text("\n".join([good, wrong_id, wrong_level, "[1]"]) + "\n")
    with Spool.open(tmp_path / "spool") as spool:
        report = AlertCommitter(spool, sink).commit_pending(now=NOW)
        assert (report.appended, report.invalid) == (1, 3)
        assert dict(report.by_level) == {json.loads(good)["warning_level"]: 1}
        reasons = [json.loads(d.payload)["reason"] for d in spool.read(DEADLETTER, 0, 10)]
        assert reasons[0].startswith("alerts-x-0.jsonl:2: alert.id 'x-1'")
        assert reasons[1].startswith("alerts-x-0.jsonl:3: warning_level 'purple'")
        assert reasons[2].endswith("not a JSON object")
