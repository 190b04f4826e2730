"""Grant changes written for the job: the first always, then only differences, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from datasoc.grants import Grant, GrantBook, GrantTerms
from detection.stream.grants import GrantChange
from soc_api.stream.grants import GrantSync

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def grant(grant_id: str, cap: int = 10) -> Grant:
    terms = GrantTerms(assets={"ds": None}, valid_from=T0, valid_to=T0 + timedelta(days=9), record_cap=cap)
    return Grant.issue(grant_id, "u", terms)


class Source:
    def __init__(self) -> None:
        self.current = GrantBook()

    def book(self) -> GrantBook:
        return self.current


def changes(directory: Path) -> list[GrantChange]:
    return [GrantChange.from_json(p.read_text()) for p in sorted(directory.glob("grants-*.jsonl"))]


def test_the_first_sync_always_writes_then_only_differences(tmp_path: Path) -> None:
    source = Source()
    sync = GrantSync(source, tmp_path / "grants", tmp_path / "manifest.json")
    first = sync.sync()
    assert first is not None
    assert (first.version, dict(first.put), first.remove) == (1, {}, ())  # empty, but the job knows
    assert sync.sync() is None
    source.current = GrantBook.of([grant("SQ-1"), grant("SQ-2")])
    assert set(sync.sync().put) == {"SQ-1", "SQ-2"}  # type: ignore[union-attr]
    source.current = GrantBook.of([grant("SQ-1", cap=5)])
    third = sync.sync()
    assert third is not None
    assert (third.version, set(third.put), third.remove) == (3, {"SQ-1"}, ("SQ-2",))
    # A restart reads the version from the files and the sent grants from the manifest.
    again = GrantSync(source, tmp_path / "grants", tmp_path / "manifest.json")
    assert again.version == 3
    assert again.sync() is None
    assert [c.version for c in changes(tmp_path / "grants")] == [1, 2, 3]


def test_without_files_the_manifest_is_ignored_and_everything_is_sent(tmp_path: Path) -> None:
    source = Source()
    source.current = GrantBook.of([grant("SQ-1")])
    GrantSync(source, tmp_path / "grants", tmp_path / "manifest.json").sync()
    for path in (tmp_path / "grants").iterdir():
        path.unlink()  # the runner starts the job without state: the directory is reset
    fresh = GrantSync(source, tmp_path / "grants", tmp_path / "manifest.json").sync()
    assert fresh is not None
    assert (fresh.version, set(fresh.put)) == (1, {"SQ-1"})
