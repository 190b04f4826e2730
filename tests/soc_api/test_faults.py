"""Faults injected into a running `datasoc run` (a real process): a ledger or store that cannot be
written, a full disk, a retention gap. Each time the other steps go on, `/readyz` names the step
that is unhealthy and why, nothing acknowledged is lost, and recovery is automatic once the fault
is gone. The faults are real file systems: small tmpfs mounts filled up (ENOSPC), since Linux cannot
remount a file system read-only under files open for writing (EBUSY); root is needed to mount,
elsewhere these tests skip."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from audit.storage import LedgerStore
from collectors.inputs.tokens import hash_token, new_token
from datasoc.store import SQLiteEventStore
from tests.soc_api.datasoc_run import spawn_run

pytestmark = pytest.mark.slow


def _mount(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    mounted: list[Path] = []

    def make(name: str, size: str) -> Path:
        path = tmp_path / name
        _mount(path, size)
        mounted.append(path)
        return path

    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def event(i: int) -> dict[str, object]:
    return {
        "@timestamp": "2026-11-28T02:13:00Z",
        "event.id": f"fault-{i:06d}",
        "event.action": "dataset.download",
        "event.outcome": "success",
        "observer.collector": "gateway",
        "log.original": f"GET /api/v1/datasets/ds-1/download #{i} " + "x" * 200,
        "datasoc.lifecycle": "transmit",
        "user.name": "zhangsan",
        "data.asset.id": "ds-1",
        "data.classification": "core",
    }


class Running:
    """`datasoc run` over `data`, with a token for source "gateway", stopped with SIGTERM."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.token = new_token()
        data.mkdir(parents=True, exist_ok=True)
        (data / "tokens.json").write_text(
            json.dumps({hash_token(self.token): {"source": "gateway", "parser": None}}), encoding="utf-8"
        )
        base = {
            "DATASOC_LOG__LEVEL": "warning",
            "DATASOC_DETECTION__ENGINE": "inprocess",
            "PATH": "/usr/bin:/bin",
        }
        self.proc, self.url = spawn_run(data, {**base, **env}, interval=0.1)
        self.base = self.url.removesuffix("/api/v1/ingest")
        self.acked: set[str] = set()

    def post(self, first: int, count: int) -> httpx.Response:
        body = "\n".join(json.dumps(event(i)) for i in range(first, first + count)).encode()
        answer = httpx.post(
            self.url, content=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )
        if answer.status_code == 200:
            assert answer.json()["accepted"] == count
            self.acked.update(f"fault-{i:06d}" for i in range(first, first + count))
        return answer

    def ready(self) -> httpx.Response:
        return httpx.get(f"{self.base}/readyz", timeout=30)

    def wait_for(self, condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"datasoc run exited while waiting for {what}")
            assert time.monotonic() < deadline, f"{what}: not within {seconds} s; readyz: {self.ready().text}"
            time.sleep(0.2)

    def problems(self) -> list[str]:
        return list(self.ready().json()["problems"])

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err.decode()[-3000:]
        return err.decode()


def _stored(store_path: Path, ids: set[str]) -> set[str]:
    with SQLiteEventStore(store_path) as store:
        return {i for i in ids if store.get(i) is not None}


def _lag(run: Running, step: str) -> int | None:
    """A step's lag as the running process's `/readyz` reports it."""
    steps = {s["name"]: s for s in run.ready().json()["steps"]}
    lag = steps[step]["lag"]
    return None if lag is None else int(lag)


def _traced(ledger: Path) -> list[str]:
    store = LedgerStore.open(ledger)
    try:
        return [str(e.payload["event.id"]) for e in store.entries() if e.kind == "access"]
    finally:
        store.close()


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system under `directory`; returns the filler to delete."""
    filler = directory / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * (1 << 20))
            handle.flush()
    return filler


def test_a_ledger_that_cannot_be_written_stops_only_the_steps_that_write_it_until_it_can(
    tmp_path: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    # A file system cannot be remounted read-only under files open for writing (EBUSY), so the
    # ledger's write fault is its own file system running full (ENOSPC on append and fsync).
    ledger_fs = tmpfs("ledger-fs", "16m")
    run = Running(tmp_path / "var", {"DATASOC_LEDGER__PATH": str(ledger_fs / "ledger")})
    filler = ledger_fs / "filler"
    try:
        assert run.post(0, 50).status_code == 200
        run.wait_for(lambda: _lag(run, "trail") == 0, "traced")
        filler = _fill(ledger_fs)
        assert run.post(50, 50).status_code == 200  # ingest and indexing do not need the ledger
        run.wait_for(lambda: any(p.startswith("trail: failing") for p in run.problems()), "trail failing")
        assert run.ready().status_code == 503
        run.wait_for(lambda: len(_stored(tmp_path / "var" / "events.sqlite3", run.acked)) == 100, "indexed")
        filler.unlink()
        run.wait_for(lambda: run.ready().status_code == 200, "recovered", seconds=120)
    finally:
        filler.unlink(missing_ok=True)
        run.stop()
    traced = _traced(ledger_fs / "ledger")
    assert sorted(traced) == sorted(run.acked)  # every access once: none lost, none twice


def test_a_full_disk_refuses_new_events_loses_none_and_recovers(
    tmp_path: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    data = tmpfs("data-fs", "48m") / "var"
    run = Running(data, {})
    filler = data.parent / "filler"
    try:
        assert run.post(0, 200).status_code == 200
        filler = _fill(data.parent)
        refused = [run.post(1000 + 100 * i, 100).status_code for i in range(5)]
        assert all(code != 200 for code in refused), refused  # never acknowledged without a durable write
        assert run.ready().status_code in (200, 503)  # still answering
        filler.unlink()
        run.wait_for(lambda: run.post(5000, 100).status_code == 200, "ingest after the disk freed up")
        run.wait_for(lambda: run.ready().status_code == 200, "recovered")
        run.wait_for(lambda: len(_stored(data / "events.sqlite3", run.acked)) == len(run.acked), "indexed")
    finally:
        filler.unlink(missing_ok=True)
        run.stop()
    assert sorted(_traced(data / "ledger")) == sorted(run.acked)


def test_a_store_that_fails_long_enough_for_retention_to_pass_it_skips_the_gap_and_ledgers_it(
    tmp_path: Path, tmpfs: Callable[[str, str], Path]
) -> None:
    store_fs = tmpfs("store-fs", "64m")
    env = {
        "DATASOC_STORE__PATH": str(store_fs / "events.sqlite3"),
        "DATASOC_SPOOL__SEGMENT_BYTES": str(64 * 1024),
        "DATASOC_SPOOL__RETENTION_BYTES": str(1024 * 1024),
        "DATASOC_PLATFORM__RETENTION_EVERY_SECONDS": "1",
    }
    run = Running(tmp_path / "var", env)
    try:
        assert run.post(0, 10).status_code == 200
        run.wait_for(lambda: len(_stored(store_fs / "events.sqlite3", run.acked)) == 10, "indexed")
        filler = _fill(store_fs)
        for i in range(20):  # ~3 MiB: retention (1 MiB) passes the stalled indexer
            assert run.post(10 + 200 * i, 200).status_code == 200
        run.wait_for(lambda: any(p.startswith("indexer: failing") for p in run.problems()), "indexer failing")
        time.sleep(2.5)  # at least two retention rounds
        filler.unlink()
        run.wait_for(lambda: run.ready().status_code == 200, "recovered")
        assert run.post(9000, 10).status_code == 200
        run.wait_for(
            lambda: "fault-009009" in _stored(store_fs / "events.sqlite3", {"fault-009009"}), "indexed after"
        )
    finally:
        (store_fs / "filler").unlink(missing_ok=True)
        run.stop()
    store = LedgerStore.open(tmp_path / "var" / "ledger")
    try:
        gaps = [e for e in store.entries() if e.kind == "system.gap" and e.actor == "system:indexer"]
    finally:
        store.close()
    assert gaps  # one entry per skip: retention may pass the stalled indexer more than once
    skipped = sum(int(gap.payload["skipped"]) for gap in gaps)
    assert skipped > 0
    stored = _stored(store_fs / "events.sqlite3", run.acked)
    # What the gaps skipped is counted exactly: everything else acknowledged is in the store.
    assert len(run.acked) - len(stored) == skipped
