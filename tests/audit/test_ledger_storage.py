"""Ledger storage: durable appends, group commit, reopen, torn tails, SIGKILL recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audit.entry import EntryDraft
from audit.errors import LedgerCorrupt, LedgerExists, LedgerLocked, LedgerMissing
from audit.ledger import Ledger
from audit.storage import LedgerStore
from audit.tree import MerkleLevels
from audit.verify import verify_store
from crypto.recipes import SigningKey

REPO = Path(__file__).resolve().parents[2]


def test_append_assigns_contiguous_seqs_and_reopens(tmp_path: Path, draft: Callable[..., EntryDraft]) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    receipts = [*store.append_many([draft(i) for i in range(10)]), store.append(draft(10))]
    assert [r.seq for r in receipts] == list(range(11))
    root = store.tree.root()
    store.close()
    again = LedgerStore.open(tmp_path / "l")
    assert again.size == 11
    assert again.tree.root() == root
    assert again.report.rebuilt_leaves == 0
    assert [e.seq for e in again.entries()] == list(range(11))
    assert next(again.entries(4, 5)).payload["rows"] == 4
    assert [r.leaf_hash for r in receipts] == [again.tree.leaf(i) for i in range(11)]
    again.close()


def test_create_refuses_existing_and_open_refuses_non_ledger(tmp_path: Path) -> None:
    LedgerStore.create(tmp_path / "l", "o").close()
    with pytest.raises(LedgerExists, match="already exists"):
        LedgerStore.create(tmp_path / "l", "o")
    with pytest.raises(LedgerMissing, match="not a ledger"):
        LedgerStore.open(tmp_path)


def test_torn_tail_is_cut_and_reported(tmp_path: Path, draft: Callable[..., EntryDraft]) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    store.append_many([draft(i) for i in range(5)])
    root = store.tree.root()
    store.close()
    log = tmp_path / "l" / "entries.log"
    intact = log.read_bytes()
    with open(log, "ab") as fh:
        fh.write(b'{"actor":"user:u0","kind":"acc')  # a write cut short by a crash
    again = LedgerStore.open(tmp_path / "l")
    assert again.report.torn_tail_bytes == 30
    assert again.size == 5
    assert again.tree.root() == root
    assert log.read_bytes() == intact
    assert again.append(draft(5)).seq == 5
    again.close()


def test_unclean_close_rebuilds_nodes_from_entries(tmp_path: Path, draft: Callable[..., EntryDraft]) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    store.append_many([draft(i) for i in range(21)])
    root = store.tree.root()
    store.close(clean=False)
    (tmp_path / "l" / "tree" / "level-02.bin").write_bytes(b"\xff" * 32)  # stale derived data
    again = LedgerStore.open(tmp_path / "l")
    assert again.report.rebuilt_leaves == 21
    assert again.tree.root() == root
    again.close()
    assert (tmp_path / "l" / "tree" / "level-02.bin").read_bytes() == bytes(again.tree.levels[2])


def test_clean_open_recovers_missing_or_long_level_files(
    tmp_path: Path, draft: Callable[..., EntryDraft]
) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    store.append_many([draft(i) for i in range(21)])
    root = store.tree.root()
    store.close()
    with open(tmp_path / "l" / "tree" / "level-00.bin", "ab") as fh:
        fh.write(b"\x00" * 64)  # nodes beyond the entries (entries lost, nodes kept)
    again = LedgerStore.open(tmp_path / "l")
    assert again.report.cut_node_bytes == 64
    assert again.tree.root() == root
    again.close()
    (tmp_path / "l" / "tree" / "level-03.bin").unlink()
    third = LedgerStore.open(tmp_path / "l")
    assert third.report.rebuilt_leaves == 21
    assert third.tree.root() == root
    third.close()


def test_tampered_last_entry_refuses_to_open(tmp_path: Path, draft: Callable[..., EntryDraft]) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    store.append_many([draft(i) for i in range(3)])
    store.close()
    log = tmp_path / "l" / "entries.log"
    log.write_bytes(log.read_bytes().replace(b'"rows":2', b'"rows":9'))
    with pytest.raises(LedgerCorrupt, match="last entry"):
        LedgerStore.open(tmp_path / "l")


def test_concurrent_appenders_share_commits(tmp_path: Path, draft: Callable[..., EntryDraft]) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    results: dict[int, list[int]] = {}
    start = threading.Barrier(8)

    def worker(k: int) -> None:
        start.wait()
        results[k] = [store.append(draft(1000 * k + j)).seq for j in range(50)]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seqs = sorted(s for r in results.values() for s in r)
    assert seqs == list(range(400))
    assert store.commits <= 400
    by_seq = {e.seq: e.payload["rows"] for e in store.entries()}
    for k, mine in results.items():
        assert [by_seq[s] for s in mine] == [1000 * k + j for j in range(50)]
        assert mine == sorted(mine)
    assert (
        store.tree.root()
        == MerkleLevels.from_leaf_hashes(
            store.tree.hasher, [store.tree.hasher.hash_leaf(store.read_raw(i)) for i in range(400)]
        ).root()
    )
    store.close()


def test_ledger_signs_by_policy_and_on_demand(
    build_ledger: Callable[..., Ledger], t0: datetime, key: SigningKey
) -> None:
    led = build_ledger(25, every=10)
    sizes = [c.checkpoint.size for c in led.store.checkpoints]
    assert sizes == [1, 11, 21, 25]
    signed = led.checkpoint(now=t0 + timedelta(hours=1))
    assert signed.checkpoint.size == 25
    assert verify_store(led.store.path, key.public_key_pem()).ok
    led.close()


_CHILD = r"""
import sys, threading
from datetime import UTC, datetime
from pathlib import Path
from audit.entry import EntryDraft
from audit.storage import LedgerStore
path, base = Path(sys.argv[1]), int(sys.argv[2])
store = LedgerStore.create(path, "o") if not (path / "LEDGER").exists() else LedgerStore.open(path)
now = datetime(2026, 3, 1, tzinfo=UTC)
out = threading.Lock()

def appender(t):
    k = base + t * 1_000_000
    while True:
        size = 1 + k % 23
        batch = [EntryDraft.create(now=now, kind="access", actor="u", subject="s", payload={"k": k + j})
                 for j in range(size)]
        receipts = store.append_many(batch)  # group commit with the other appenders
        # Acknowledged, so durable: report the appender's own ids with the seqs it was given.
        with out:
            print(" ".join(f"{k + j}:{r.seq}" for j, r in enumerate(receipts)), flush=True)
        k += size

for t in range(4):
    threading.Thread(target=appender, args=(t,), daemon=True).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_sigkill_keeps_every_acknowledged_entry_exactly_once(
    tmp_path: Path, key: SigningKey, t0: datetime
) -> None:
    path = tmp_path / "l"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    acked: dict[int, int] = {}  # seq -> appender id k
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), str(round_ * 10_000_000)],
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
            text=True,
        )
        assert child.stdout is not None
        target = len(acked) + 3000
        while len(acked) < target:
            line = child.stdout.readline()
            assert line, "child died before being killed"
            for pair in line.split():
                k, seq = map(int, pair.split(":"))
                acked[seq] = k
        child.send_signal(signal.SIGKILL)
        child.wait()
        store = LedgerStore.open(path)
        found = [e.payload["k"] for e in store.entries()]
        assert all(found[seq] == k for seq, k in acked.items())
        counts: dict[int, int] = {}
        for k in found:
            counts[k] = counts.get(k, 0) + 1
        assert all(counts[k] == 1 for k in acked.values())
        store.close(clean=False)
    led = Ledger.open(path, key)
    led.checkpoint(now=t0)
    led.close()
    report = verify_store(path, key.public_key_pem())
    assert report.ok, report.summary()
    assert report.entries >= len(acked)
    ks = [json.loads(line)["payload"]["k"] for line in (path / "entries.log").read_bytes().splitlines()]
    assert len(ks) == len(set(ks)) == report.entries


def test_torn_checkpoint_line_is_cut_and_reported(
    build_ledger: Callable[..., Ledger], key: SigningKey
) -> None:
    led = build_ledger(12, every=5)
    led.close()
    log = led.store.path / "checkpoints.log"
    intact = log.read_bytes()
    log.write_bytes(intact + b'{"checkpoint": "datasoc.te')
    again = LedgerStore.open(led.store.path)
    assert again.report.torn_checkpoint_bytes == 26
    assert log.read_bytes() == intact
    assert [c.checkpoint.size for c in again.checkpoints] == [1, 6, 11, 12]
    again.close()
    assert verify_store(led.store.path, key.public_key_pem()).ok


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    store = LedgerStore.create(tmp_path / "l", "o")
    with pytest.raises(LedgerLocked, match="open for writing in another process") as caught:
        LedgerStore.open(tmp_path / "l")
    # A locked ledger is not a corrupt one (issue 11): the error says so and what to do.
    assert not isinstance(caught.value, LedgerCorrupt)
    assert "read-only" in caught.value.diagnostics()
    store.close()
    LedgerStore.open(tmp_path / "l").close()


def test_files_are_private_whatever_the_umask(
    tmp_path: Path, key: SigningKey, draft: Callable[..., EntryDraft], t0: datetime
) -> None:
    old = os.umask(0o022)
    try:
        led = Ledger.open(tmp_path / "l", key, origin="o")
        led.append_many([draft(i) for i in range(40)], now=t0)
        led.checkpoint(now=t0 + timedelta(seconds=1))
        led.close()
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path): p.stat().st_mode & 0o777 for p in (tmp_path / "l").rglob("*")}
    assert modes[Path("l/entries.log")] == 0o600
    assert modes[Path("l/tree")] == 0o700
    assert {m for p, m in modes.items() if p.is_relative_to("l/tree") and p.name.endswith(".bin")} == {0o600}
    assert set(modes.values()) <= {0o600, 0o700}, modes
    assert (tmp_path / "l").stat().st_mode & 0o777 == 0o700


def test_an_older_ledger_is_tightened_on_open(tmp_path: Path) -> None:
    LedgerStore.create(tmp_path / "l", "o").close()
    os.chmod(tmp_path / "l", 0o755)
    os.chmod(tmp_path / "l" / "entries.log", 0o644)
    LedgerStore.open(tmp_path / "l").close()
    assert (tmp_path / "l").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "l" / "entries.log").stat().st_mode & 0o777 == 0o600
