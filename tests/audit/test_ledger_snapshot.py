"""Read-only opens beside a writer in another process: a consistent prefix, no lock, no writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.bundle import export_bundle, verify_bundle
from audit.errors import LedgerLocked
from audit.ledger import Ledger
from audit.selection import Selection
from audit.snapshot import LedgerSnapshot
from audit.storage import LedgerStore
from audit.verify import verify_store
from crypto.recipes import SigningKey
from soc_api.commands.ledger import ledger as ledger_cli

REPO = Path(__file__).resolve().parents[2]

# Appends small batches with a checkpoint every 40 entries until told to stop (stdin closes).
_WRITER = """
import sys, threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from audit.checkpoint import CheckpointPolicy
from audit.entry import EntryDraft
from audit.ledger import Ledger
from crypto.recipes import SigningKey

key = SigningKey.from_pem(Path(sys.argv[2]).read_bytes(), b"pw")
policy = CheckpointPolicy(every_entries=40, every_seconds=1e9)
led = Ledger.open(Path(sys.argv[1]), key, origin="o", policy=policy)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
t0 = datetime(2026, 3, 1, tzinfo=UTC)
i = 0
while not stop.is_set():
    now = t0 + timedelta(milliseconds=i)
    drafts = [
        EntryDraft.create(
            now=now, kind="access", actor=f"user:u{(i + j) % 3}", subject="asset:a", payload={"n": i + j}
        )
        for j in range(7)
    ]
    led.append_many(drafts, now=now)
    i += 7
    if i == 7 * 12:
        print("ready", flush=True)
led.close()
print(led.store.size, flush=True)
"""


def test_readers_beside_a_live_writer(key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "l"
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(key.private_key_pem(b"pw"))
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key_pem())
    env = {**os.environ, "PYTHONPATH": str(REPO), "DATASOC_LEDGER_PASSPHRASE": "pw"}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(key_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        with pytest.raises(LedgerLocked):
            LedgerStore.open(path)
        sizes = []
        for round_ in range(6):
            snap = LedgerSnapshot.open(path)
            latest = snap.latest_checkpoint()
            assert latest is not None
            cp = latest.checkpoint
            # A consistent prefix: whole entries in order, covering every checkpoint read.
            assert [e.seq for e in snap.entries()] == list(range(snap.size))
            assert cp.size <= snap.size
            assert snap.tree.root(cp.size) == cp.root
            assert snap.index.map.root() == cp.index_root
            sizes.append(snap.size)
            data = export_bundle(
                snap,
                tmp_path / f"r{round_}.zip",
                signer=key,
                now=cp.when(),
                selection=Selection.by_keys(actor="user:u1"),
            ).read_bytes()
            report = verify_bundle(data, key.public_key_pem())
            assert report.ok, report.failure
            assert report.complete
            assert verify_store(path, key.public_key_pem()).status != "failed"
        result = CliRunner().invoke(ledger_cli, ["verify", str(path), "--pubkey", str(pub)])
        assert result.exit_code in (0, 2), result.output
        result = CliRunner(env={"DATASOC_LEDGER_PASSPHRASE": "pw"}).invoke(
            ledger_cli,
            [
                "export",
                str(path),
                "--out",
                str(tmp_path / "cli.zip"),
                "--key",
                str(key_file),
                "--actor",
                "user:u2",
            ],
        )
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(ledger_cli, ["search", str(path), "--actor", "user:u0", "--limit", "5"])
        assert result.exit_code == 0, result.output
        assert len([x for x in result.output.splitlines() if x.startswith("{")]) == 5
        assert sizes == sorted(sizes)
    finally:
        out, _ = writer.communicate("stop", timeout=60)
    assert writer.returncode == 0
    final = int(out.strip().splitlines()[-1])
    assert final >= sizes[-1]
    # The writer never saw a reader: its ledger verifies whole, nothing was written beside it.
    assert verify_store(path, key.public_key_pem()).ok
    assert not list(path.rglob("*.tmp"))
    again = Ledger.open(path, key)
    assert again.store.size == final
    again.close()


def test_snapshot_leaves_out_a_line_being_written(key: SigningKey, tmp_path: Path, t0: datetime) -> None:
    from audit.entry import EntryDraft

    led = Ledger.open(tmp_path / "l", key, origin="o")
    for i in range(5):
        led.append(
            EntryDraft.create(
                now=t0 + timedelta(seconds=i), kind="access", actor="a", subject="s", payload={"i": i}
            ),
            now=t0,
        )
    led.checkpoint(now=t0 + timedelta(seconds=9))
    log = tmp_path / "l" / "entries.log"
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "l").rglob("*")}
    with open(log, "ab") as fh:
        fh.write(b'{"actor":"a","kind":"acc')  # what a reader sees mid-write
        fh.flush()
        snap = LedgerSnapshot.open(tmp_path / "l")
        assert snap.size == 5
        assert snap.partial_bytes == 24
        assert json.loads(snap.read_raw(4))["seq"] == 4
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "l").rglob("*") if p != log}
    assert after == {p: t for p, t in before.items() if p != log}
    led.close()


def test_search_shows_sealed_fields_sealed(key: SigningKey, tmp_path: Path, t0: datetime) -> None:
    from audit.sealed import sealed_draft
    from crypto.recipes import SealingKey

    sealing = SealingKey.generate("seal:test")
    led = Ledger.open(tmp_path / "l", key, origin="o")
    draft = sealed_draft(
        now=t0,
        kind="access",
        actor="user:alice",
        subject="asset:人口库",
        payload={"source.ip": "10.1.2.3", "rows": 7},
        sensitive=["source.ip"],
        key=sealing,
    )
    led.append(draft, now=t0)
    led.close()
    result = CliRunner().invoke(ledger_cli, ["search", str(tmp_path / "l"), "--subject", "asset:人口库"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.splitlines()[0])
    assert shown["payload"]["rows"] == 7
    assert shown["payload"]["source.ip"]["sealed"] in ("sm4-gcm", "sm4-cbc-hmac-sm3")
    assert "10.1.2.3" not in result.output
