"""`StreamRunner` without a job: what one round exports, which checkpoint a start resumes (no Flink)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from datasoc.transport import EVENTS, Spool
from detection.stream.batch import read_batch
from detection.stream.config import StreamConfig
from soc_api.stream.runner import StreamRunner, state_layout
from tests.detection.stream.conftest import NOW, make_event


def _spool_with(root: Path, n: int) -> Spool:
    spool = Spool.open(root / "spool")
    payloads = [
        json.dumps(make_event(f"t{i}", NOW + timedelta(milliseconds=i), "x")).encode() for i in range(n)
    ]
    spool.append(EVENTS, payloads, now=NOW)
    return spool


def _exported_ids(runner: StreamRunner) -> list[str]:
    ids: list[str] = []
    for path in runner.exporter.files():
        for pointer in path.read_text(encoding="utf-8").splitlines():
            ids += [e["event.id"] for e in read_batch(pointer, runner.exporter.batches).events]
    return ids


def test_a_round_exports_everything_pending_in_files_up_to_its_budget(tmp_path: Path) -> None:
    with _spool_with(tmp_path, 25_000) as spool:
        runner = StreamRunner(spool, StreamConfig.under(tmp_path / "job"), idle_heartbeat=None)
        runner.tick(now=NOW, file_records=4_000, budget=20_000)
        # Not one file a round (that capped the job at one file's events a round): five files of 4,000.
        assert runner.exporter.position == 20_000
        assert len([p for p in runner.exporter.files() if p.name.startswith("events")]) == 5
        runner.tick(now=NOW, file_records=4_000, budget=20_000)
        assert runner.exporter.position == 25_000
        runner.tick(now=NOW)
        assert runner.exporter.position == 25_000
        # Every event exactly once, in spool order, across the files and their batches.
        assert _exported_ids(runner) == [f"t{i}" for i in range(25_000)]


def test_a_round_with_nothing_new_sends_a_heartbeat_once_idle(tmp_path: Path) -> None:
    with _spool_with(tmp_path, 10) as spool:
        runner = StreamRunner(
            spool, StreamConfig.under(tmp_path / "job"), idle_heartbeat=timedelta(seconds=5)
        )
        runner.tick(now=NOW)
        runner.tick(now=NOW + timedelta(seconds=4))
        beats = [p for p in runner.exporter.files() if p.name.startswith("heartbeat")]
        assert beats == []
        runner.tick(now=NOW + timedelta(seconds=5))
        beats = [p for p in runner.exporter.files() if p.name.startswith("heartbeat")]
        assert len(beats) == 1
        assert beats[0].name.endswith(f"-{int((NOW + timedelta(seconds=5)).timestamp() * 1000):020d}.jsonl")


def _checkpoint(config: StreamConfig, job: str, n: int) -> Path:
    path = Path(config.checkpoint_dir) / job / f"chk-{n}"
    path.mkdir(parents=True)
    (path / "_metadata").write_bytes(b"meta")
    return path


def test_a_checkpoint_of_another_state_layout_is_not_resumed(tmp_path: Path) -> None:
    with _spool_with(tmp_path, 1) as spool:
        config = StreamConfig.under(tmp_path / "job")
        runner = StreamRunner(spool, config, idle_heartbeat=None)
        assert runner.checkpoint_to_resume() is None  # none yet
        found = _checkpoint(config, "a" * 32, 3)
        # Written before layouts were recorded (or by another layout): passed over, and said so.
        assert runner.checkpoint_to_resume() is None
        assert runner.skipped_checkpoint == found
        layout = Path(config.input_dir).parent / "state-layout.json"
        layout.write_text(json.dumps({"layout": state_layout(config)}), encoding="utf-8")
        assert runner.checkpoint_to_resume() == found
        assert runner.skipped_checkpoint is None
        # The lanes own the correlation buckets: another parallelism cannot use the stored state.
        staged = StreamRunner(spool, replace(config, parallelism=2), idle_heartbeat=None)
        assert state_layout(staged.config) != state_layout(config)
        assert staged.checkpoint_to_resume() is None
        assert staged.skipped_checkpoint == found
