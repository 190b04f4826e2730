"""SM2 signatures (GB/T 32918.2-2016) over raw keys, via `gmssl_pyx` (the GmSSL binding).

LOW-LEVEL: raw 32-byte private scalars and 64-byte public points (x || y). Callers outside `crypto/`
use `crypto.recipes.SigningKey` and `verify_signature`, which add PEM keys and never raise on a
bad signature.

Signatures are DER `SEQUENCE { r INTEGER, s INTEGER }` over SM3(Z || M), Z computed with the user id
`DEFAULT_USER_ID` (GB/T 32918.2 §5.5 / GM/T 0009-2012 §10), the form OpenSSL 3 produces with
`-pkeyopt distid:1234567812345678`. The pure-Python `gmssl` package is never used: its nonces come
from `random`.

GmSSL writes a trace to the C-level stderr when a verification fails. `verify` runs the call with
fd 2 pointed at a scratch file and replays afterwards whatever is not a GmSSL trace line, so a
forged signature does not print noise and other threads' stderr output is delayed, not lost.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from typing import IO, TypeVar

import gmssl_pyx

from crypto.primitives import der

DEFAULT_USER_ID = b"1234567812345678"
"""GM/T 0009-2012 default signer id; OpenSSL 3 needs `distid:1234567812345678` to match."""

# GB/T 32918.5-2017 recommended curve parameters (sm2p256v1).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 64

_T = TypeVar("_T")
_Point = tuple[int, int] | None


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a fresh `(private_scalar_32, public_point_64)` from GmSSL's CSPRNG."""
    public, private = gmssl_pyx.sm2_key_generate()
    return bytes(private), bytes(public)


def is_valid_private(private: bytes) -> bool:
    """GB/T 32918.1 §6.1: the private key d lies in [1, n-2]."""
    return len(private) == PRIVATE_KEY_SIZE and 1 <= int.from_bytes(private, "big") <= N - 2


def is_on_curve(public: bytes) -> bool:
    """True when the 64-byte point (x || y) is a point of the curve, not the identity."""
    if len(public) != PUBLIC_KEY_SIZE:
        return False
    x = int.from_bytes(public[:32], "big")
    y = int.from_bytes(public[32:], "big")
    return x < P and y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _add(p1: _Point, p2: _Point) -> _Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    # Tangent slope when doubling, chord slope otherwise.
    num, den = (3 * x1 * x1 + A, 2 * y1) if p1 == p2 else (y2 - y1, x2 - x1)
    lam = num * pow(den, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def public_from_private(private: bytes) -> bytes:
    """Derive the public point d·G (affine double-and-add; used once per key load, not per signature).

    Needed for PKCS#8 files that omit the optional public key, and to check that a stored public key
    belongs to its private key (a mismatch would silently produce signatures nobody can verify).
    """
    k = int.from_bytes(private, "big")
    result: _Point = None
    addend: _Point = (GX, GY)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    if result is None:
        raise ValueError("private scalar is a multiple of the group order")
    return result[0].to_bytes(32, "big") + result[1].to_bytes(32, "big")


def sign(private: bytes, public: bytes, message: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """DER SM2 signature of SM3(Z || message). Raises `gmssl_pyx.InvalidValueError` on a bad key."""
    return bytes(gmssl_pyx.sm2_sign(private, public, message, user_id))


def is_wellformed_signature(signature: bytes) -> bool:
    """True when `signature` is strict DER `SEQUENCE {r, s}` with 1 <= r, s < n."""
    try:
        items = der.decode(signature, "SM2 signature").children("SM2 signature")
        if len(items) != 2:
            return False
        r = items[0].as_int("SM2 signature r")
        s = items[1].as_int("SM2 signature s")
    except der.DERError:
        return False
    return 1 <= r < N and 1 <= s < N


def verify(public: bytes, message: bytes, signature: bytes, user_id: bytes = DEFAULT_USER_ID) -> bool:
    """True only for a valid DER SM2 signature of SM3(Z || message). Never raises on bad input."""
    if not is_on_curve(public) or not is_wellformed_signature(signature):
        return False
    try:
        return bool(_quiet_stderr(lambda: gmssl_pyx.sm2_verify(public, message, signature, user_id)))
    except gmssl_pyx.GmsslInnerError:
        return False


_stderr_lock = threading.Lock()
_GMSSL_TRACE_PREFIX = b"/project/GmSSL/"
_scratch: dict[int, IO[bytes]] = {}  # pid -> scratch file; per process so a fork never shares one


def _scratch_file() -> IO[bytes]:
    pid = os.getpid()
    if pid not in _scratch:
        _scratch.clear()
        _scratch[pid] = tempfile.TemporaryFile()  # noqa: SIM115  (kept open for the process lifetime)
    return _scratch[pid]


def _quiet_stderr(call: Callable[[], _T]) -> _T:
    """Run `call` with fd 2 captured; replay captured lines except GmSSL's own traces."""
    with _stderr_lock:
        try:
            scratch = _scratch_file()
            saved = os.dup(2)
        except OSError:  # no fd 2 (closed by a daemon manager) or no temp dir: nothing to protect
            return call()
        try:
            os.dup2(scratch.fileno(), 2)
            try:
                return call()
            finally:
                os.dup2(saved, 2)
                size = scratch.tell()
                if size:
                    scratch.seek(0)
                    captured = scratch.read(size)
                    scratch.seek(0)
                    scratch.truncate()
                    kept = b"".join(
                        line
                        for line in captured.splitlines(keepends=True)
                        if not line.startswith(_GMSSL_TRACE_PREFIX)
                    )
                    if kept:
                        os.write(2, kept)
        finally:
            os.close(saved)
