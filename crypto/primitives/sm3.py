"""SM3 hash (GB/T 32905-2016) adapters.

LOW-LEVEL: callers outside `crypto/` use `crypto.recipes.sm3` / `sm3_hex`, which pick the fastest
backend that passed its known-answer test.

Two backends compute the same function:
- `hashlib.new("sm3")`, present only when Python's OpenSSL was built with SM3. Copying a prepared
  context is about twice as fast as building a pyca hash object per leaf (see notes/sm-crypto.md).
- pyca `cryptography` (`hashes.SM3`), always present (it bundles OpenSSL).
The choice is made once, at import, by hashing the GB/T 32905 example "abc" with hashlib and
comparing to the standard's digest; if hashlib lacks SM3 or disagrees, pyca is used.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

DIGEST_SIZE = 32
BLOCK_SIZE = 64

# GB/T 32905-2016 Appendix A.1: SM3("abc").
_ABC_DIGEST = bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


class SM3Function(Protocol):
    """SM3 of the concatenation of the arguments."""

    def __call__(self, *parts: bytes) -> bytes: ...


def sm3_cryptography(*parts: bytes) -> bytes:
    """SM3 of the concatenation of `parts` via pyca `cryptography`."""
    h = hashes.Hash(hashes.SM3())
    for part in parts:
        h.update(part)
    return h.finalize()


def _make_hashlib_sm3() -> SM3Function | None:
    try:
        prepared = hashlib.new("sm3")
    except (ValueError, TypeError):
        return None

    copy = prepared.copy  # bound once: this is the per-leaf hot path of the ledger

    def sm3_hashlib(*parts: bytes) -> bytes:
        h = copy()
        # One update of the joined parts beats one update per part for leaf/node sized inputs;
        # joining a single bytes object returns it without copying.
        h.update(b"".join(parts))
        return h.digest()

    try:
        ok = sm3_hashlib(b"abc") == _ABC_DIGEST
    except Exception:  # an OpenSSL build that advertises but cannot run SM3
        return None
    return sm3_hashlib if ok else None


sm3_hashlib: SM3Function | None = _make_hashlib_sm3()
"""SM3 via hashlib, or None when the running Python's OpenSSL lacks a working SM3."""

BACKEND: str = "hashlib" if sm3_hashlib is not None else "cryptography"
"""Name of the backend `sm3` uses."""

sm3: SM3Function = sm3_hashlib if sm3_hashlib is not None else sm3_cryptography
"""SM3 of the concatenation of the arguments, on the chosen backend (32 bytes)."""


def hmac_sm3(key: bytes, *parts: bytes) -> bytes:
    """HMAC-SM3 (RFC 2104 with SM3) of the concatenation of `parts`."""
    h = _hmac.HMAC(key, hashes.SM3())
    for part in parts:
        h.update(part)
    return h.finalize()


def hmac_sm3_verify(key: bytes, tag: bytes, *parts: bytes) -> bool:
    """Constant-time check of an HMAC-SM3 tag."""
    h = _hmac.HMAC(key, hashes.SM3())
    for part in parts:
        h.update(part)
    try:
        h.verify(tag)
    except InvalidSignature:
        return False
    return True
