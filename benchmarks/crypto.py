"""Crypto throughput figures for `datasoc bench` (the CLI prints them; this module only measures).

`bench_crypto(n)` returns rates, higher is better:
- ``sm3_leaf_per_s_hashlib`` / ``sm3_leaf_per_s_cryptography`` / ``sm3_leaf_per_s``: SM3 of a 0x00
  prefix plus a 100-byte entry (an RFC 9162 leaf hash), per backend and for the one `recipes.sm3` uses.
  ``sm3_leaf_per_s_hashlib`` is 0.0 when hashlib has no SM3.
- ``sm3_mb_per_s``: SM3 over 1 MiB buffers.
- ``sm2_sign_per_s`` / ``sm2_verify_per_s``: SM2 over a 100-byte message (checkpoint-sized).
- ``sm4_gcm_mb_per_s`` / ``sm4_cbc_hmac_mb_per_s``: field sealing bulk rates over 64 KiB values.
- ``seal_field_per_s``: `seal_field` on a 32-byte value (a typical sensitive field).
Timings use `time.perf_counter`; figures vary with machine load, so never assert on them in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from crypto.primitives import sm3
from crypto.sealing import SealingKey, seal_field
from crypto.signing import SigningKey

_MIB = 1 << 20


def _per_second(count: int, operation: Callable[[], object]) -> float:
    """Call `operation` `count` times; return calls per second."""
    start = time.perf_counter()
    for _ in range(count):
        operation()
    elapsed = time.perf_counter() - start
    return count / elapsed if elapsed > 0 else float("inf")


def _leaf_rate(function: Callable[..., bytes], leaves: list[bytes]) -> float:
    start = time.perf_counter()
    for leaf in leaves:
        function(b"\x00", leaf)
    return len(leaves) / max(time.perf_counter() - start, 1e-9)


def bench_crypto(n: int = 20_000) -> dict[str, float]:
    """Measure crypto rates; `n` scales the work (leaf hashes = n, signatures = n // 100, at least 10)."""
    if n < 1:
        raise ValueError("n must be positive")
    leaves = [i.to_bytes(8, "big") * 12 + b"leaf" for i in range(n)]  # 100-byte entries
    out: dict[str, float] = {}
    hashlib_sm3 = sm3.sm3_hashlib
    out["sm3_leaf_per_s_hashlib"] = _leaf_rate(hashlib_sm3, leaves) if hashlib_sm3 is not None else 0.0
    out["sm3_leaf_per_s_cryptography"] = _leaf_rate(sm3.sm3_cryptography, leaves)
    out["sm3_leaf_per_s"] = _leaf_rate(sm3.sm3, leaves)

    block = bytes(_MIB)
    out["sm3_mb_per_s"] = _per_second(max(2, n // 5_000), lambda: sm3.sm3(block))

    signatures = max(10, n // 100)
    key = SigningKey.generate("bench")
    verifier = key.verifying_key()
    message = bytes(100)
    signature = key.sign(message)
    out["sm2_sign_per_s"] = _per_second(signatures, lambda: key.sign(message))
    out["sm2_verify_per_s"] = _per_second(signatures, lambda: verifier.verify(message, signature))

    seal_key = SealingKey("bench", bytes(32))
    value = bytes(64 * 1024)
    bulk = max(4, n // 1_000)
    value_mb = len(value) / _MIB
    iv_gcm, iv_cbc = bytes(12), bytes(16)  # benchmark only: fixed IVs, no real data is sealed here
    out["sm4_gcm_mb_per_s"] = value_mb * _per_second(
        bulk, lambda: seal_field(seal_key, "r", "f", value, iv=iv_gcm)
    )
    out["sm4_cbc_hmac_mb_per_s"] = value_mb * _per_second(
        bulk, lambda: seal_field(seal_key, "r", "f", value, iv=iv_cbc, alg="sm4-cbc-hmac-sm3")
    )
    small = bytes(32)
    out["seal_field_per_s"] = _per_second(
        max(100, n // 10), lambda: seal_field(seal_key, "r", "f", small, iv=iv_gcm)
    )
    return out
