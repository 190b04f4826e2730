"""`datasoc run` as one process: HTTP ingest, indexing, access trace and denials in the ledger."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx

from audit.storage import LedgerStore
from collectors.inputs.tokens import hash_token, new_token
from datasoc.store import SQLiteEventStore
from tests.soc_api.datasoc_run import spawn_run


def event(i: int) -> dict[str, object]:
    return {
        "@timestamp": "2026-11-28T02:13:00Z",
        "event.id": f"run-{i}",
        "event.action": "dataset.download",
        "event.outcome": "success",
        "observer.collector": "gateway",
        "log.original": f"GET /api/v1/datasets/ds-1/download #{i}",
        "datasoc.lifecycle": "transmit",
        "user.name": "zhangsan",
        "data.asset.id": "ds-1",
        "data.classification": "core",
    }


def test_run_ingests_indexes_traces_and_ledgers_denials(tmp_path: Path) -> None:
    token = new_token()
    (tmp_path / "tokens.json").write_text(
        json.dumps({hash_token(token): {"source": "gateway", "parser": None}}), encoding="utf-8"
    )
    extra = {
        "DATASOC_LOG__LEVEL": "warning",
        "DATASOC_DETECTION__ENGINE": "inprocess",  # the Flink engine's process test: test_flink_engine.py
        "PATH": "/usr/bin:/bin",
    }
    proc, url = spawn_run(tmp_path, extra, interval=0.1)
    try:
        body = "\n".join(json.dumps(event(i)) for i in range(20)).encode()
        ok = httpx.post(url, content=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ok.status_code == 200, ok.text
        assert ok.json()["accepted"] == 20
        denied = httpx.post(url, content=body, headers={"Authorization": "Bearer wrong"}, timeout=30)
        assert denied.status_code == 401
        assert "wrong" not in denied.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
                if store.get("run-19") is not None:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("events were not indexed within 30 s")
        time.sleep(0.5)  # one more pass: the trace follows the indexer
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert token not in err.decode()
    store = LedgerStore.open(tmp_path / "ledger")
    try:
        kinds = [entry.kind for entry in store.entries()]
    finally:
        store.close()
    assert kinds.count("access") == 20
    assert "login.denied" in kinds
    assert "purge" in kinds  # retention ran at start and was ledgered
