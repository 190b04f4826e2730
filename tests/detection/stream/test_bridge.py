"""The platform side: exporter, committer and rule-change writer over a real spool (no Flink)."""

from __future__ import annotations

import json
from pathlib import Path

from datasoc.transport import ALERTS, EVENTS, Spool
from detection.pipelines import resolve_pipeline
from detection.stream.alerts import alert_line, single_alert
from detection.stream.bridge import AlertCommitter, EventExporter, RuleChangeWriter
from detection.stream.rules import RuleChange, compile_bundle
from tests.detection.stream.conftest import NOW, make_event, rule_texts


def _alert_lines(n: int) -> list[str]:
    bundle = compile_bundle(rule_texts("core_download.yml"), resolve_pipeline("default"))
    (rule,) = bundle.engine.rules
    return [alert_line(single_alert(rule, make_event(f"e{i}", NOW, "dataset.download"))) for i in range(n)]


def test_exporter_writes_offset_named_files_and_resumes_from_them(tmp_path: Path) -> None:
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [json.dumps(make_event(f"e{i}", NOW, "x")).encode() for i in range(5)], now=NOW)
        exporter = EventExporter(spool, tmp_path / "in")
        assert exporter.export(3) == 3
        assert exporter.export(10) == 2
        assert exporter.export(10) == 0
        names = sorted(p.name for p in (tmp_path / "in").iterdir())
        assert names == [f"events-{0:020d}-{2:020d}.jsonl", f"events-{3:020d}-{4:020d}.jsonl"]
        line = json.loads((tmp_path / "in" / names[1]).read_text().splitlines()[0])
        assert line["o"] == 3
        assert line["e"]["event.id"] == "e3"
        spool.append(EVENTS, [json.dumps(make_event("e5", NOW, "x")).encode()], now=NOW)
        # A new exporter (after a restart) starts where the files end: nothing is exported twice.
        again = EventExporter(spool, tmp_path / "in")
        assert again.position == 5
        assert again.export_all() == 1


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
