"""Rule files to the job's broadcast input: numbered changes, only the differences (no Flink)."""

from __future__ import annotations

import os
from pathlib import Path

from detection.stream.rules import RuleChange
from soc_api.stream.rules import RuleChangeWriter, RuleDirectorySync


def test_rule_writer_numbers_changes_and_resumes(tmp_path: Path) -> None:
    writer = RuleChangeWriter(tmp_path)
    writer.write(put={"a.yml": "x"})
    writer.write(disable=["a.yml"])
    assert RuleChangeWriter(tmp_path).version == 2
    line = (tmp_path / "rules-000000000002.jsonl").read_text()
    assert RuleChange.from_json(line) == RuleChange(2, disable=("a.yml",))


def test_rule_directory_sync_sends_only_differences(tmp_path: Path) -> None:

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


def test_rule_directory_sync_reads_a_file_again_only_when_its_time_or_size_changes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    rule = store / "a.yml"
    rule.write_text("A1")
    sync = RuleDirectorySync([store], RuleChangeWriter(tmp_path / "changes"), tmp_path / "manifest.json")
    assert sync.sync() is not None
    stamp = rule.stat()
    rule.write_text("A2")  # same size; the old modification time put back: not read, not sent
    os.utime(rule, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert sync.sync() is None
    os.utime(rule, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))
    change = sync.sync()
    assert change is not None
    assert dict(change.put) == {"a.yml": "A2"}
