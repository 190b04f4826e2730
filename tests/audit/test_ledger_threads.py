"""Appends from several threads (the API's request threads beside the platform's pass) never fail
on checkpoint signing: the policy check and the signature are one step under the ledger's lock."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from audit.checkpoint import CheckpointPolicy
from audit.ledger import Ledger
from crypto.recipes import SigningKey
from tests.audit.conftest import T0, make_draft


def test_concurrent_appends_with_a_checkpoint_due_every_entry(tmp_path: Path, key: SigningKey) -> None:
    ledger = Ledger.open(
        tmp_path / "l", key, origin="datasoc.test/ledger", policy=CheckpointPolicy(every_entries=1)
    )
    errors: list[BaseException] = []
    clock = iter(range(1, 10_000_000))
    lock = threading.Lock()

    def worker(offset: int) -> None:
        try:
            for i in range(40):
                with lock:
                    now = T0 + timedelta(milliseconds=next(clock))
                ledger.append(make_draft(offset * 1000 + i, now), now=now)
        except BaseException as exc:  # collected: a failure on any thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ledger.store.size == 320
    sizes = [c.checkpoint.size for c in ledger.store.checkpoints]
    assert sizes == sorted(sizes)
    assert len(set(sizes)) == len(sizes)
    ledger.close()
