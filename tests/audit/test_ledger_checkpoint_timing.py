"""Checkpoint timing in the ledger: strictly increasing times, deferral, and signing the tail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit.checkpoint import CheckpointPolicy
from audit.entry import EntryDraft
from audit.ledger import Ledger
from crypto.recipes import SigningKey

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


def test_batches_at_one_now_defer_the_next_checkpoint(
    tmp_path: Path, key: SigningKey, draft: Callable[..., EntryDraft]
) -> None:
    ledger = Ledger.open(tmp_path / "l", key, origin="o", policy=CheckpointPolicy(every_entries=5))
    # Three batches of five at the same `now`: only the first can be checkpointed at T0.
    for batch in range(3):
        ledger.append_many([draft(batch * 5 + i) for i in range(5)], now=T0)
    assert [cp.checkpoint.size for cp in ledger.store.checkpoints] == [5]
    # At a later `now` the policy fires again and covers everything.
    ledger.append_many([draft(15)], now=T0 + timedelta(seconds=1))
    assert [cp.checkpoint.size for cp in ledger.store.checkpoints] == [5, 16]
    ledger.close()


def test_checkpoint_tail_signs_only_uncovered_entries(
    tmp_path: Path, key: SigningKey, draft: Callable[..., EntryDraft]
) -> None:
    ledger = Ledger.open(tmp_path / "l", key, origin="o", policy=CheckpointPolicy(every_entries=1000))
    assert ledger.checkpoint_tail(now=T0) is None  # empty ledger: nothing to sign
    ledger.append_many([draft(i) for i in range(3)], now=T0)  # the first checkpoint is due at once
    ledger.append_many([draft(i) for i in range(3, 5)], now=T0 + timedelta(seconds=1))  # not due yet
    assert [cp.checkpoint.size for cp in ledger.store.checkpoints] == [3]
    signed = ledger.checkpoint_tail(now=T0 + timedelta(seconds=2))
    assert signed is not None
    assert signed.checkpoint.size == 5
    assert ledger.checkpoint_tail(now=T0 + timedelta(seconds=3)) is None  # already covered
    ledger.close()
