"""Composition root: parts open from settings; crash recovery is logged and ledgered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.entry import EntryDraft
from crypto.errors import KeyStoreError
from datasoc.settings import Settings, load_settings
from datasoc.transport import EVENTS
from soc_api.platform import Platform

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def settings_for(tmp_path: Path, **env: str) -> Settings:
    # The in-process engine keeps these tests free of Flink (the Flink engine has its own tests).
    return load_settings(
        None, {"DATASOC_DATA_DIR": str(tmp_path), "DATASOC_DETECTION__ENGINE": "inprocess", **env}
    )


def test_torn_tails_are_cut_and_ledgered(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    platform = Platform.open(settings, now=NOW)
    platform.spool.append(EVENTS, [b'{"x":1}'], now=NOW)
    platform.ledger.append(
        EntryDraft.create(now=NOW, kind="admin.config", actor="sysadmin", subject="audit", payload={}),
        now=NOW,
    )
    platform.close()
    # A crash mid-write leaves partial bytes at the end of both logs.
    with (tmp_path / "ledger" / "entries.log").open("ab") as f:
        f.write(b'{"actor":"half')
    segment = sorted((tmp_path / "spool" / EVENTS).glob("*.seg"))[-1]
    with segment.open("ab") as f:
        f.write(b"\x01\x02\x03")
    platform = Platform.open(settings, now=NOW.replace(hour=5))
    try:
        entries = list(platform.ledger.store.entries())
        assert [e.kind for e in entries] == ["admin.config", "ledger.torn_tail"]
        payload = entries[-1].payload
        assert payload["ledger_entries_bytes"] == len(b'{"actor":"half')
        assert payload["spool"][0]["topic"] == EVENTS
        assert payload["spool"][0]["cut_bytes"] == 3
        assert platform.spool.range(EVENTS).end == 1  # the acknowledged record is still there
    finally:
        platform.close()


def test_clean_reopen_ledgers_nothing_and_keeps_keys(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    platform = Platform.open(settings, now=NOW)
    key_id = platform.keys.signing_key.key_id
    platform.close()
    platform = Platform.open(settings, now=NOW)
    try:
        assert platform.ledger.store.size == 0
        assert platform.keys.signing_key.key_id == key_id
    finally:
        platform.close()


def test_wrong_key_passphrase_stops_start(tmp_path: Path) -> None:
    Platform.open(settings_for(tmp_path), now=NOW).close()
    other = settings_for(tmp_path, DATASOC_LEDGER__KEY_PASSPHRASE="another passphrase entirely")
    with pytest.raises(KeyStoreError) as caught:
        Platform.open(other, now=NOW)
    assert "another passphrase" not in str(caught.value)


def test_purge_is_ledgered(tmp_path: Path) -> None:
    platform = Platform.open(settings_for(tmp_path), now=NOW)
    try:
        purge, _spool = platform.retention(NOW)
        (entry,) = platform.ledger.store.entries()
        assert entry.kind == "purge"
        assert entry.payload["purged"] == purge.purged == 0
        assert entry.payload["retention_days"] == 184
    finally:
        platform.close()
