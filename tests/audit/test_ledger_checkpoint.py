"""Checkpoints: exact signed bytes, strict parsing, signatures (also with the system OpenSSL), policy."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audit.checkpoint import Checkpoint, CheckpointPolicy, SignedCheckpoint, check_successor
from audit.errors import CheckpointError
from crypto.recipes import SigningKey

ROOT = bytes(range(32))


def _cp(t0: datetime, size: int = 5, when: timedelta = timedelta(0)) -> Checkpoint:
    return Checkpoint.create(origin="datasoc.test/ledger", size=size, root=ROOT, now=t0 + when)


def test_signed_bytes_are_documented_text(t0: datetime) -> None:
    assert _cp(t0).to_text() == (
        b"datasoc.test/ledger\n5\nsm3:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
        b"time 2026-03-01T08:00:00.000000Z\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        b"o\n5\nsm3:" + b"00" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z",  # no final LF
        b"o\n05\nsm3:" + b"00" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z\n",  # leading zero
        b"o\n5\nsha256:" + b"00" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z\n",
        b"o\n5\nsm3:" + b"0A" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z\n",  # upper-case hex
        b"o\n5\nsm3:" + b"00" * 32 + b"\ntime 2026-03-01T08:00:00Z\n",
        b" o\n5\nsm3:" + b"00" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z\n",
        b"o\n5\nsm3:" + b"00" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z\nextra\n",
        "原\n5\nsm3:".encode() + b"00" * 32 + b"\ntime 2026-03-01T08:00:00.000000Z\n",
    ],
)
def test_non_canonical_text_rejected(text: bytes) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.from_text(text)


def test_sign_verify_and_wrong_key(t0: datetime, key: SigningKey, other_key: SigningKey) -> None:
    signed = SignedCheckpoint.sign(_cp(t0), key)
    signed.verify(key.public_key_pem())
    assert SignedCheckpoint.from_dict(signed.to_dict()) == signed
    with pytest.raises(CheckpointError, match="does not verify"):
        signed.verify(other_key.public_key_pem())
    forged = SignedCheckpoint(_cp(t0, size=6), signed.signature, signed.key_id)
    with pytest.raises(CheckpointError, match="does not verify"):
        forged.verify(key.public_key_pem())
    with pytest.raises(CheckpointError, match="public key"):
        signed.verify(b"not a pem")


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="system openssl not installed")


@needs_openssl
def test_openssl_verifies_datasoc_checkpoint(tmp_path: Path, t0: datetime, key: SigningKey) -> None:
    signed = SignedCheckpoint.sign(_cp(t0), key)
    (tmp_path / "pub.pem").write_bytes(key.public_key_pem())
    (tmp_path / "checkpoint.bin").write_bytes(signed.checkpoint.to_text())
    (tmp_path / "checkpoint.sig").write_bytes(signed.signature)
    cmd = [
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
        "-in",
        "checkpoint.bin",
        "-sigfile",
        "checkpoint.sig",
    ]
    ok = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Verified Successfully" in ok.stdout
    (tmp_path / "checkpoint.bin").write_bytes(_cp(t0, size=6).to_text())
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


@needs_openssl
def test_datasoc_verifies_openssl_signed_checkpoint(tmp_path: Path, t0: datetime) -> None:
    run = {"cwd": tmp_path, "capture_output": True, "check": True}
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", "key.pem"], **run)  # type: ignore[call-overload]
    subprocess.run(["openssl", "pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"], **run)  # type: ignore[call-overload]
    text = _cp(t0).to_text()
    (tmp_path / "checkpoint.bin").write_bytes(text)
    subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-rawin",
            "-digest",
            "sm3",  # type: ignore[call-overload]
            "-pkeyopt",
            "distid:1234567812345678",
            "-in",
            "checkpoint.bin",
            "-out",
            "checkpoint.sig",
        ],
        **run,
    )
    signed = SignedCheckpoint(
        Checkpoint.from_text(text), (tmp_path / "checkpoint.sig").read_bytes(), "openssl"
    )
    signed.verify((tmp_path / "pub.pem").read_bytes())


def test_policy_every_n_entries_or_t_seconds(t0: datetime) -> None:
    policy = CheckpointPolicy(every_entries=100, every_seconds=60)
    last = _cp(t0, size=10)
    assert policy.due(None, 1, t0)
    assert not policy.due(None, 0, t0)
    assert not policy.due(last, 10, t0 + timedelta(hours=1))  # nothing new to sign
    assert not policy.due(last, 109, t0 + timedelta(seconds=59))
    assert policy.due(last, 110, t0 + timedelta(seconds=1))
    assert policy.due(last, 11, t0 + timedelta(seconds=60))
    with pytest.raises(CheckpointError):
        CheckpointPolicy(every_entries=0)


def test_policy_min_seconds_holds_back_count_triggered_checkpoints(t0: datetime) -> None:
    policy = CheckpointPolicy(every_entries=100, every_seconds=60, min_seconds=1.0)
    last = _cp(t0, size=10)
    assert not policy.due(last, 5000, t0 + timedelta(milliseconds=999))  # count reached, too soon
    assert policy.due(last, 110, t0 + timedelta(seconds=1))
    assert not policy.due(last, 109, t0 + timedelta(seconds=59))
    assert policy.due(last, 11, t0 + timedelta(seconds=60))  # the time rule is not held back
    with pytest.raises(CheckpointError, match="min_seconds"):
        CheckpointPolicy(every_seconds=1.0, min_seconds=2.0)
    with pytest.raises(CheckpointError, match="min_seconds"):
        CheckpointPolicy(min_seconds=-1.0)


def test_successor_rules(t0: datetime) -> None:
    first = _cp(t0, size=10)
    check_successor(first, _cp(t0, size=12, when=timedelta(seconds=1)))
    with pytest.raises(CheckpointError, match="went back"):
        check_successor(first, _cp(t0, size=9, when=timedelta(seconds=1)))
    with pytest.raises(CheckpointError, match="not after"):
        check_successor(first, _cp(t0, size=10))
    other = Checkpoint.create(origin="elsewhere", size=12, root=ROOT, now=t0 + timedelta(seconds=1))
    with pytest.raises(CheckpointError, match="origin"):
        check_successor(first, other)
