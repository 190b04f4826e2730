"""`verify_store`: a clean ledger passes; the first divergence is reported with its position."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.checkpoint import Checkpoint, SignedCheckpoint
from audit.ledger import Ledger
from audit.reading import checkpoint_line
from audit.verify import verify_store
from crypto.recipes import SigningKey
from soc_api.commands.ledger import ledger as ledger_cli


def test_clean_ledger_and_unsigned_tail(
    build_ledger: Callable[..., Ledger], key: SigningKey, draft: Callable[..., object], t0: object
) -> None:
    led = build_ledger(12, every=5)
    report = verify_store(led.store.path, key.public_key_pem())
    assert report.ok
    assert report.entries == 12
    assert report.unsigned_tail == 0
    led.store.append(draft(12))  # type: ignore[arg-type]
    led.close()
    report = verify_store(led.store.path, key.public_key_pem())
    assert report.ok
    assert report.unsigned_tail == 1
    assert report.status == "unproven"
    assert report.summary().startswith("UNPROVEN")


def _flip(path: Path, needle: bytes, replacement: bytes, nth: int = 0) -> None:
    data = path.read_bytes()
    pos = -1
    for _ in range(nth + 1):
        pos = data.index(needle, pos + 1)
    path.write_bytes(data[:pos] + replacement + data[pos + len(needle) :])


def test_first_divergence_position(build_ledger: Callable[..., Ledger], key: SigningKey) -> None:
    led = build_ledger(12, every=5)
    led.close()
    log = led.store.path / "entries.log"
    _flip(log, b'"rows":9', b'"rows":8')
    _flip(log, b'"rows":4', b'"rows":5')
    report = verify_store(led.store.path, key.public_key_pem())
    assert not report.ok
    assert report.position == "entry 4"
    assert "FAILED at entry 4" in report.summary()


def test_node_and_checkpoint_positions(
    build_ledger: Callable[..., Ledger], key: SigningKey, other_key: SigningKey
) -> None:
    led = build_ledger(12, every=5)
    led.close()
    level1 = led.store.path / "tree" / "level-01.bin"
    original = level1.read_bytes()
    level1.write_bytes(original[:64] + bytes([original[64] ^ 1]) + original[65:])
    report = verify_store(led.store.path, key.public_key_pem())
    assert report.position == "level-01.bin node 2"
    level1.write_bytes(original)
    report = verify_store(led.store.path, other_key.public_key_pem())
    assert report.position == "checkpoints.log line 1"
    assert "unknown key" in (report.failure or "")
    both = verify_store(led.store.path, [other_key.public_key_pem(), key.public_key_pem()])
    assert both.ok
    bad = verify_store(led.store.path, b"not a key")
    assert not bad.ok
    assert "public key" in (bad.failure or "")


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(ledger_cli, list(args))
    return result.exit_code, result.output


def test_rolled_back_tail_is_unproven_and_caught_by_a_known_checkpoint(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(12, every=5)
    led.close()
    path = led.store.path
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key_pem())
    held = tmp_path / "held.bin"
    held.write_bytes(led.store.latest_checkpoint().checkpoint.to_text())  # type: ignore[union-attr]
    assert _cli("verify", str(path), "--pubkey", str(pub))[0] == 0
    log = path / "checkpoints.log"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]))  # the newest checkpoint removed: a rollback of the tail
    code, out = _cli("verify", str(path), "--pubkey", str(pub))
    assert code == 2, out
    assert "UNPROVEN" in out
    code, out = _cli("verify", str(path), "--pubkey", str(pub), "--known-checkpoint", str(held))
    assert code == 1, out
    assert "checkpoints were removed" in out
    entries = path / "entries.log"
    data = entries.read_bytes()
    entries.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])
    for level in (path / "tree").glob("level-*.bin"):  # derived files, which a careful forger drops
        level.unlink()
    code, out = _cli("verify", str(path), "--pubkey", str(pub), "--known-checkpoint", str(held))
    assert code == 1, out
    assert "rolled back" in out


def test_forged_entry_after_the_last_checkpoint_is_unproven(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path
) -> None:
    led = build_ledger(8, every=4)
    led.close()
    entries = led.store.path / "entries.log"
    last = json.loads(entries.read_bytes().splitlines()[-1])
    forged = {**last, "seq": 8, "actor": "user:nobody", "payload": {"rows": 0}}
    line = json.dumps(forged, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    entries.write_bytes(entries.read_bytes() + line + b"\n")
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key_pem())
    code, out = _cli("verify", str(led.store.path), "--pubkey", str(pub))
    assert code == 2, out
    assert "last 1 entries are after the newest signed checkpoint" in out


@pytest.mark.parametrize("name", ["checkpoints.log", "entries.log", "LEDGER"])
def test_a_missing_file_is_named_not_a_traceback(
    build_ledger: Callable[..., Ledger], key: SigningKey, tmp_path: Path, name: str
) -> None:
    led = build_ledger(3)
    led.close()
    (led.store.path / name).unlink()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key_pem())
    code, out = _cli("verify", str(led.store.path), "--pubkey", str(pub))
    assert code == 1
    assert "Traceback" not in out
    assert name in out or "not a ledger directory" in out
    code, out = _cli("search", str(led.store.path))
    assert code == 1
    assert out.startswith("Error: ")
    assert len(out.strip().splitlines()) == 1


def test_a_signed_index_root_that_does_not_match_the_entries_is_found(
    build_ledger: Callable[..., Ledger], key: SigningKey, t0: object
) -> None:
    led = build_ledger(6, every=100)
    led.close()
    log = led.store.path / "checkpoints.log"
    signed = SignedCheckpoint.from_dict(json.loads(log.read_bytes().splitlines()[-1]))
    cp = signed.checkpoint
    lying = Checkpoint(cp.origin, cp.size, cp.root, cp.time, bytes(32))
    resigned = SignedCheckpoint.sign(Checkpoint.from_text(lying.to_text()), key)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]) + checkpoint_line(resigned))
    report = verify_store(led.store.path, key.public_key_pem())
    assert not report.ok
    assert "index root differs" in (report.failure or "")


def test_late_entries_are_refused_on_append_and_found_by_verify(
    build_ledger: Callable[..., Ledger], key: SigningKey, draft: Callable[..., object], t0: object
) -> None:
    from audit.errors import EntryOutOfOrder

    led = build_ledger(4, every=100)
    now = t0 + timedelta(hours=1)  # type: ignore[operator]
    led.append(draft(4, now), now=now)  # type: ignore[arg-type]
    with pytest.raises(EntryOutOfOrder, match="more than 300 s before"):
        led.append(draft(5, now - timedelta(minutes=6)), now=now)  # type: ignore[arg-type]
    led.append(draft(6, now - timedelta(minutes=4)), now=now)  # type: ignore[arg-type]  # late, within bounds
    assert led.store.size == 6
    led.close()
    assert verify_store(led.store.path, key.public_key_pem()).ok
