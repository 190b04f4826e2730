"""The benchmark function returns every figure, as positive numbers (no timing assertions)."""

from __future__ import annotations

import math

import pytest

from benchmarks.crypto import bench_crypto
from crypto.primitives import sm3

EXPECTED = {
    "sm3_leaf_per_s_hashlib",
    "sm3_leaf_per_s_cryptography",
    "sm3_leaf_per_s",
    "sm3_mb_per_s",
    "sm2_sign_per_s",
    "sm2_verify_per_s",
    "sm4_gcm_mb_per_s",
    "sm4_cbc_hmac_mb_per_s",
    "seal_field_per_s",
}


def test_bench_returns_all_figures() -> None:
    figures = bench_crypto(200)
    assert set(figures) == EXPECTED
    for name, value in figures.items():
        assert math.isfinite(value) or value == math.inf, name
        if name != "sm3_leaf_per_s_hashlib" or sm3.sm3_hashlib is not None:
            assert value > 0, name


def test_bench_rejects_non_positive_n() -> None:
    with pytest.raises(ValueError, match="positive"):
        bench_crypto(0)
