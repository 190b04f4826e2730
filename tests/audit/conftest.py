"""Shared fixtures for the ledger tests: keys, a fixed clock, small ledgers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.checkpoint import CheckpointPolicy
from audit.entry import EntryDraft
from audit.ledger import Ledger
from crypto.recipes import SigningKey

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
ORIGIN = "datasoc.test/ledger"


def make_draft(i: int, now: datetime = T0) -> EntryDraft:
    """A varied, deterministic entry."""
    kinds = ("access", "approval.granted", "grant.used", "export", "admin.role_changed", "login.failure")
    return EntryDraft.create(
        now=now,
        kind=kinds[i % len(kinds)],
        actor=f"user:u{i % 5}",
        subject=f"asset:人口库-{i % 3}",
        payload={"rows": i, "reason": f"工单 {i}", "lifecycle": "use"},
    )


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return SigningKey.generate("test-signer")


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    return SigningKey.generate("not-the-signer")


BuildLedger = Callable[..., Ledger]


@pytest.fixture
def build_ledger(tmp_path: Path, key: SigningKey) -> BuildLedger:
    """Ledger with `n` entries appended one per second, checkpoints every `every` entries and at the end."""

    def build(n: int, every: int = 10, name: str = "ledger") -> Ledger:
        led = Ledger.open(
            tmp_path / name,
            key,
            origin=ORIGIN,
            policy=CheckpointPolicy(every_entries=every, every_seconds=10_000),
        )
        for i in range(n):
            led.append(make_draft(i), now=T0 + timedelta(seconds=i))
        if led.store.latest_checkpoint() is None or led.store.latest_checkpoint().checkpoint.size != n:  # type: ignore[union-attr]
            led.checkpoint(now=T0 + timedelta(seconds=n + 1))
        return led

    return build


@pytest.fixture
def draft() -> Callable[..., EntryDraft]:
    """`draft(i, now=T0)`: a varied, deterministic entry draft."""
    return make_draft


@pytest.fixture
def t0() -> datetime:
    """The fixed clock the tests start from."""
    return T0
