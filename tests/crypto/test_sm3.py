"""SM3 backends against GB/T 32905 vectors, and HMAC-SM3."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto import recipes
from crypto.primitives import sm3
from crypto.vectors import VectorCase, load_vectors

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SM3_CASES = [pytest.param(c, id=c.name) for c in load_vectors(VECTORS / "sm3/gbt32905.txt").cases]
BACKENDS = [pytest.param(sm3.sm3_cryptography, id="cryptography")]
if sm3.sm3_hashlib is not None:
    BACKENDS.append(pytest.param(sm3.sm3_hashlib, id="hashlib"))


@pytest.mark.parametrize("case", SM3_CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_matches_standard(case: VectorCase, backend: sm3.SM3Function) -> None:
    assert backend(case.hex("Msg")) == case.hex("MD")


@pytest.mark.parametrize("case", SM3_CASES)
def test_recipe_hashes_parts_like_their_concatenation(case: VectorCase) -> None:
    msg = case.hex("Msg")
    for cut in (0, 1, len(msg) // 2, len(msg)):
        assert recipes.sm3(msg[:cut], msg[cut:]) == case.hex("MD")
    assert recipes.sm3_hex(msg) == "sm3:" + case.hex("MD").hex()


def test_backends_agree_on_many_lengths() -> None:
    for length in range(0, 200, 7):
        data = bytes(range(256))[:length] * 3
        assert sm3.sm3(data) == sm3.sm3_cryptography(data)


def test_chosen_backend_is_named() -> None:
    assert sm3.BACKEND in {"hashlib", "cryptography"}
    assert (sm3.BACKEND == "hashlib") == (sm3.sm3_hashlib is not None)


def test_hmac_sm3_verifies_its_own_tag_and_rejects_changes() -> None:
    tag = sm3.hmac_sm3(b"k" * 32, b"a", b"b")
    assert len(tag) == 32
    assert tag == sm3.hmac_sm3(b"k" * 32, b"ab")
    assert sm3.hmac_sm3_verify(b"k" * 32, tag, b"ab")
    assert not sm3.hmac_sm3_verify(b"k" * 32, tag, b"ac")
    assert not sm3.hmac_sm3_verify(b"j" * 32, tag, b"ab")
    assert not sm3.hmac_sm3_verify(b"k" * 32, tag[:-1] + bytes([tag[-1] ^ 1]), b"ab")


def test_hmac_sm3_matches_gmssl() -> None:
    gmssl_pyx = pytest.importorskip("gmssl_pyx")
    for key in (b"k", b"k" * 64, b"k" * 100):
        assert sm3.hmac_sm3(key, b"message") == gmssl_pyx.sm3_hmac(key, b"message")
