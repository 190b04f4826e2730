"""Ledger benchmark (`datasoc bench ledger`): figures measured in one run, on one machine.

Reports durable appends per second (batched, and concurrent appenders sharing group commits)
next to raw SM3 leaf hashing of the same entries (the ceiling for any append path), inclusion
proof generation, checkpoint signing, and export plus offline verification of every entry.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import CheckpointPolicy
from audit.entry import EntryDraft
from audit.ledger import Ledger
from audit.selection import Selection
from audit.storage import SM3_HASHER
from crypto.recipes import SigningKey

Progress = Callable[[str], None]


def _drafts(n: int, now: datetime) -> list[EntryDraft]:
    kinds = ("access", "approval.granted", "grant.used", "export", "admin.user_updated")
    return [
        EntryDraft.create(
            now=now,
            kind=kinds[i % len(kinds)],
            actor=f"user:u{i % 97}",
            subject=f"asset:dataset-{i % 1009}",
            payload={"rows": i % 5000, "lifecycle": "use", "approval.id": f"apr-{i // 100}"},
        )
        for i in range(n)
    ]


def run_ledger_bench(
    workdir: Path, *, entries: int, batch: int, now: datetime, progress: Progress = lambda _: None
) -> dict[str, Any]:
    """Run every measurement in `workdir` (created, left for the caller to remove)."""
    figures: dict[str, Any] = {"entries": entries, "batch": batch}
    key = SigningKey.generate("bench")
    pub = key.public_key_pem()

    t = time.perf_counter()
    drafts = _drafts(entries, now)
    figures["drafts_per_s"] = entries / (time.perf_counter() - t)
    progress(f"built {entries} entries")

    # The ceiling: SM3 leaf hashes of the exact bytes the ledger will store, nothing else.
    raws = [d.canonical_at(i) for i, d in enumerate(drafts)]
    hash_leaf = SM3_HASHER.hash_leaf
    t = time.perf_counter()
    for raw in raws:
        hash_leaf(raw)
    figures["raw_sm3_leaf_hashes_per_s"] = entries / (time.perf_counter() - t)
    figures["mean_entry_bytes"] = sum(map(len, raws)) / max(1, entries)
    del raws

    policy = CheckpointPolicy(every_entries=100_000, every_seconds=3600)
    ledger = Ledger.open(workdir / "ledger", key, origin="datasoc.bench/ledger", policy=policy)
    t = time.perf_counter()
    for i in range(0, entries, batch):
        # A simulated clock (1 ms per batch): checkpoint times must move forward.
        ledger.append_many(drafts[i : i + batch], now=now + timedelta(milliseconds=i // batch))
    elapsed = time.perf_counter() - t
    figures["durable_appends_per_s"] = entries / elapsed
    figures["durable_batches_per_s"] = -(-entries // batch) / elapsed
    progress(f"appended {entries} entries durably")

    # Concurrent appenders: 8 threads, small batches; group commit shares one fsync among them.
    side = Ledger.open(workdir / "group", key, origin="datasoc.bench/group", policy=policy)
    share = min(entries, 80_000) // 8
    fsyncs_before = _fsync_counter(side)

    def worker(k: int) -> None:
        part = drafts[k * share : (k + 1) * share]
        for j in range(0, len(part), 50):
            side.append_many(part[j : j + 50], now=now)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    figures["group_commit_appends_per_s"] = 8 * share / elapsed
    figures["group_commit_fsyncs"] = _fsync_counter(side) - fsyncs_before
    figures["group_commit_appender_calls"] = 8 * -(-share // 50)
    side.close()

    rng = random.Random(1)  # noqa: S311 - picks leaf indexes to prove, not secrets
    size = ledger.store.size
    t = time.perf_counter()
    for _ in range(10_000):
        ledger.inclusion_proof(rng.randrange(size))
    figures["inclusion_proof_us"] = (time.perf_counter() - t) / 10_000 * 1e6

    t = time.perf_counter()
    ledger.checkpoint(now=now + timedelta(days=1))
    figures["checkpoint_sign_ms"] = (time.perf_counter() - t) * 1e3

    t = time.perf_counter()
    out = export_bundle(ledger.store, workdir / "export.zip", signer=key, now=now)
    figures["export_s"] = time.perf_counter() - t
    figures["export_mb"] = out.stat().st_size / 1e6
    progress(f"exported {entries} entries ({figures['export_mb']:.1f} MB)")

    # A provably complete selection through the key index: one actor (about 1/97 of the log).
    t = time.perf_counter()
    by_actor = export_bundle(
        ledger.store, workdir / "actor.zip", signer=key, now=now, selection=Selection.by_keys(actor="user:u7")
    )
    figures["export_actor_s"] = time.perf_counter() - t
    ledger.close()

    t = time.perf_counter()
    report = verify_bundle(out.read_bytes(), pub)
    figures["verify_export_s"] = time.perf_counter() - t
    figures["verify_ok"] = report.ok
    figures["verify_summary"] = report.summary()
    del report

    t = time.perf_counter()
    actor_report = verify_bundle(by_actor.read_bytes(), pub)
    figures["verify_actor_s"] = time.perf_counter() - t
    figures["verify_actor_complete"] = actor_report.complete
    figures["verify_actor_entries"] = actor_report.entries

    # What the platform pays on start: level files read, key index rebuilt from every entry.
    t = time.perf_counter()
    Ledger.open(workdir / "ledger", key, policy=policy).close()
    figures["reopen_s"] = time.perf_counter() - t
    return figures


def _fsync_counter(ledger: Ledger) -> int:
    return ledger.store.commits
