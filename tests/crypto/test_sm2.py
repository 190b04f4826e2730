"""SM2 primitives: the OpenSSL known-answer vectors, curve maths, malformed input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.primitives import der, sm2, sm2_keys
from crypto.vectors import VectorCase, load_vectors

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SM2_CASES = [pytest.param(c, id=c.name) for c in load_vectors(VECTORS / "sm2/openssl3-kat.txt").cases]


@pytest.mark.parametrize("case", SM2_CASES)
def test_known_answer_verification(case: VectorCase) -> None:
    public = sm2_keys.load_public_der(case.hex("PublicKey"))
    assert sm2.verify(public, case.hex("Msg"), case.hex("Signature")) is (case.text("Result") == "P")


def test_public_from_private_matches_gmssl_keygen() -> None:
    for _ in range(3):
        private, public = sm2.generate_keypair()
        assert sm2.public_from_private(private) == public
        assert sm2.is_on_curve(public)
        assert sm2.is_valid_private(private)


def test_private_range_limits() -> None:
    assert not sm2.is_valid_private(bytes(32))
    assert not sm2.is_valid_private((sm2.N - 1).to_bytes(32, "big"))
    assert sm2.is_valid_private((sm2.N - 2).to_bytes(32, "big"))
    assert not sm2.is_valid_private(b"\x01" * 31)


def test_sign_then_verify_and_rejections() -> None:
    private, public = sm2.generate_keypair()
    sig = sm2.sign(private, public, b"message")
    assert sm2.verify(public, b"message", sig)
    assert not sm2.verify(public, b"messagf", sig)
    assert not sm2.verify(public, b"message", sig, user_id=b"another-user-id")
    _, other_public = sm2.generate_keypair()
    assert not sm2.verify(other_public, b"message", sig)


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x30",
        b"\x30\x00",
        b"junk" * 20,
        der.seq(der.integer(0), der.integer(1)),
        der.seq(der.integer(sm2.N), der.integer(1)),
    ],
)
def test_malformed_signatures_return_false(signature: bytes) -> None:
    _, public = sm2.generate_keypair()
    assert sm2.verify(public, b"m", signature) is False


def test_bad_public_points_return_false() -> None:
    private, public = sm2.generate_keypair()
    sig = sm2.sign(private, public, b"m")
    assert sm2.verify(bytes(64), b"m", sig) is False
    assert sm2.verify(public[:-1] + bytes([public[-1] ^ 1]), b"m", sig) is False
    assert sm2.verify(public[:10], b"m", sig) is False


def test_failed_verify_writes_nothing_to_stderr_but_keeps_other_output() -> None:
    script = (
        "import sys, os\n"
        "from crypto.primitives import sm2\n"
        "d, q = sm2.generate_keypair()\n"
        "s = sm2.sign(d, q, b'm')\n"
        "sys.stderr.write('before\\n'); sys.stderr.flush()\n"
        "assert not sm2.verify(q, b'x', s)\n"
        "assert not sm2.verify(q, b'm', s[:-1] + bytes([s[-1] ^ 1]))\n"
        "sys.stderr.write('after\\n')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=60,
        check=True,
    )
    assert result.stderr == b"before\nafter\n"
