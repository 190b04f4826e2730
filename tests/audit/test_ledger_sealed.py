"""Sealed payload fields: stored sealed, proven sealed, open only in their own entry and field."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from audit.entry import LedgerEntry
from audit.errors import EntryError
from audit.sealed import open_payload, sealed_draft
from audit.storage import LedgerStore
from crypto.recipes import SealingKey


def _rng(n: int) -> bytes:
    return b"\x07" * n  # deterministic IVs: each test seals under a fresh key


def test_sealed_fields_round_trip_and_never_stored_in_clear(tmp_path: Path, t0: datetime) -> None:
    key = SealingKey.generate("seal-1")
    payload = {"citizen_id": "110101199003071234", "rows": 3, "phone": "13800000000"}
    draft = sealed_draft(
        now=t0,
        kind="access",
        actor="user:alice",
        subject="asset:人口库",
        payload=payload,
        sensitive=["citizen_id", "phone", "absent"],
        key=key,
        rng=_rng,
    )
    store = LedgerStore.create(tmp_path / "l", "o")
    store.append(draft)
    raw = (tmp_path / "l" / "entries.log").read_bytes()
    assert b"110101199003071234" not in raw
    assert b"13800000000" not in raw
    entry = next(store.entries())
    assert entry.payload["rows"] == 3
    assert entry.payload["citizen_id"]["kid"] == "seal-1"
    assert open_payload(entry, key) == payload
    assert open_payload(entry, {"seal-1": key}) == payload
    store.close()


def test_sealed_value_moved_to_another_entry_or_field_does_not_open(t0: datetime) -> None:
    key = SealingKey.generate("seal-1")
    a = sealed_draft(
        now=t0,
        kind="access",
        actor="user:alice",
        subject="asset:a",
        payload={"id": "secret-a", "other": "x"},
        sensitive=["id", "other"],
        key=key,
        rng=_rng,
    ).at(0)
    b = sealed_draft(
        now=t0,
        kind="access",
        actor="user:bob",
        subject="asset:a",
        payload={"id": "secret-b"},
        sensitive=["id"],
        key=key,
        rng=_rng,
    ).at(1)
    moved = LedgerEntry.from_dict({**b.to_dict(), "payload": {"id": dict(a.payload["id"])}})
    with pytest.raises(EntryError, match=r"payload\.id"):
        open_payload(moved, key)
    swapped = LedgerEntry.from_dict({**a.to_dict(), "payload": {"id": dict(a.payload["other"])}})
    with pytest.raises(EntryError, match=r"payload\.id"):
        open_payload(swapped, key)
    with pytest.raises(EntryError):
        open_payload(a, SealingKey.generate("seal-1"))
    assert json.dumps(dict(a.payload)).count("secret") == 0
