"""The side-by-side bench's parts: timing a process tree, replicas, the peer's environment and output."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from benchmarks.peer import peer_venv, replicate_file, timed, tree_memory_mib, zircolite_matches


def test_tree_memory_counts_this_process() -> None:
    rss, pss = tree_memory_mib(os.getpid())
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc here")
    assert rss > 10
    assert 0 < pss <= rss * 1.01


def test_timed_measures_a_child_and_its_children(tmp_path: Path) -> None:
    # A parent that starts a child holding 64 MiB: the tree's peak includes the child.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time; b = bytearray(64 << 20); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(0.6)'])\n"
        "print('out'); child.wait()\n"
    )
    run = timed([sys.executable, "-c", script], cwd=tmp_path, stdout=tmp_path / "out.txt")
    assert run.returncode == 0
    assert run.seconds >= 0.6
    assert (tmp_path / "out.txt").read_text() == "out\n"
    if Path("/proc/self/status").exists():
        assert run.peak_tree_mib > 64


def test_replicate_file(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert replicate_file(source, 3, tmp_path / "b.jsonl") == 6
    assert (tmp_path / "b.jsonl").read_text().splitlines() == ['{"a": 1}', '{"a": 2}'] * 3


def test_zircolite_matches_sums_counts(tmp_path: Path) -> None:
    out = tmp_path / "z.json"
    out.write_text(json.dumps([{"title": "a", "count": 3}, {"title": "b", "count": 4}]), encoding="utf-8")
    assert zircolite_matches(out) == 7
    assert zircolite_matches(tmp_path / "missing.json") == -1


@pytest.mark.slow
def test_peer_venv_is_built_once_from_the_requirements(tmp_path: Path) -> None:
    peer = tmp_path / "peer"
    peer.mkdir()
    (peer / "requirements.txt").write_text("", encoding="utf-8")  # nothing to download
    python = peer_venv(peer, tmp_path / "cache")
    assert python.is_file()
    marker = python.parents[1] / ".complete"
    stamp = marker.stat().st_mtime_ns
    assert peer_venv(peer, tmp_path / "cache") == python
    assert marker.stat().st_mtime_ns == stamp  # kept, not rebuilt
    (peer / "requirements.txt").write_text("# changed\n", encoding="utf-8")
    assert peer_venv(peer, tmp_path / "cache") != python  # another digest, another environment
