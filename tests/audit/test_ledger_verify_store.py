"""`verify_store`: a clean ledger passes; the first divergence is reported with its position."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from audit.ledger import Ledger
from audit.verify import verify_store
from crypto.recipes import SigningKey


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
    assert "1 entries after the last checkpoint" in report.summary()


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
