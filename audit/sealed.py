"""Sensitive payload fields sealed with SM4 before they enter the ledger (ARCHITECTURE.md).

A sealed field's value is replaced by `SealedField.to_dict()` (algorithm, key id, IV,
ciphertext); the plaintext is the canonical JSON of the original value. Sealing binds the value
to its entry (`LedgerEntry.record_id()`: time, kind, actor, subject) and field name, so it cannot
be moved to another entry or field and still open. The Merkle tree hashes the sealed form: an
auditor proves a record without being able to read its sealed fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from audit.entry import EntryDraft, LedgerEntry, format_ts, record_id_for
from audit.errors import EntryError
from crypto.errors import CryptoError
from crypto.recipes import SealedField, SealingKey, open_field, seal_field
from datasoc.canonical import canonical_json


def seal_payload(
    payload: Mapping[str, Any],
    sensitive: Iterable[str],
    *,
    key: SealingKey,
    record_id: str,
    rng: Callable[[int], bytes] = os.urandom,
) -> dict[str, Any]:
    """Copy of `payload` with each top-level field in `sensitive` (when present) sealed."""
    out = dict(payload)
    for name in sensitive:
        if name in out:
            sealed = seal_field(key, record_id, name, canonical_json(out[name]), rng=rng)
            out[name] = sealed.to_dict()
    return out


def sealed_draft(
    *,
    now: datetime,
    kind: str,
    actor: str,
    subject: str,
    payload: Mapping[str, Any],
    sensitive: Iterable[str],
    key: SealingKey,
    rng: Callable[[int], bytes] = os.urandom,
) -> EntryDraft:
    """An entry draft whose `sensitive` payload fields are sealed, bound to this entry."""
    record_id = record_id_for(format_ts(now), kind, actor, subject)
    sealed = seal_payload(payload, sensitive, key=key, record_id=record_id, rng=rng)
    return EntryDraft.create(now=now, kind=kind, actor=actor, subject=subject, payload=sealed)


def open_payload(entry: LedgerEntry, keys: SealingKey | Mapping[str, SealingKey]) -> dict[str, Any]:
    """The entry's payload with every sealed top-level field opened; raises `EntryError` naming the field."""
    out = dict(entry.payload)
    for name, value in entry.payload.items():
        if SealedField.looks_sealed(value):
            try:
                out[name] = json.loads(open_field(keys, entry.record_id(), name, value))
            except CryptoError as exc:
                raise EntryError(str(exc), field=f"payload.{name}", seq=entry.seq) from None
    return out
