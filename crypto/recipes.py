"""Crypto recipes: the only crypto API that code outside `crypto/` calls.

Hashing
    `sm3(*parts) -> bytes` and `sm3_hex(*parts) -> "sm3:<hex>"` (digests say their algorithm).
Signing (`crypto.signing`)
    `SigningKey.generate(key_id=None)`, `SigningKey.from_pem(pem, passphrase, key_id=None)`,
    `.sign(message) -> DER`, `.public_key_pem()`, `.private_key_pem(passphrase)`, `.verifying_key()`;
    `VerifyingKey.from_pem(pem).verify(message, sig) -> bool`;
    `verify_signature(public_key_pem, message, signature_der) -> bool`;
    `public_key_id(pem) -> "sm2:<16 hex>"`.
Sealing (`crypto.sealing`)
    `seal_field(key, record_id, field, plaintext, *, iv=None, rng=os.urandom, alg="sm4-gcm") -> SealedField`,
    `open_field(keys, record_id, field, sealed) -> bytes`; `SealedField.to_dict()/from_dict()`.
Key store (`crypto.keystore`)
    `KeyStore.create(path, passphrase, now=...)`, `KeyStore.open(path, passphrase)`, `.signing_key`,
    `.sealing_key`, `.verifying_keys()`, `.sealing_keys()`, `.rotate_signing_key(now=...)`,
    `.rotate_sealing_key(now=...)`.
Start-up
    `crypto.selftest.run_self_test()` raises `CryptoSelfTestError`; call it before serving.
"""

from __future__ import annotations

from crypto.errors import (
    CryptoError,
    CryptoSelfTestError,
    KeyFormatError,
    KeyStoreError,
    SealError,
    UnknownKeyError,
    WrongPassphraseError,
)
from crypto.keystore import KeyInfo, KeyStore
from crypto.primitives import sm3 as _sm3
from crypto.primitives.sm2_keys import ScryptParams
from crypto.sealing import SealedField, SealingKey, associated_data, open_field, seal_field
from crypto.signing import DEFAULT_USER_ID, SigningKey, VerifyingKey, public_key_id, verify_signature

__all__ = [
    "DEFAULT_USER_ID",
    "DIGEST_PREFIX",
    "CryptoError",
    "CryptoSelfTestError",
    "KeyFormatError",
    "KeyInfo",
    "KeyStore",
    "KeyStoreError",
    "ScryptParams",
    "SealError",
    "SealedField",
    "SealingKey",
    "SigningKey",
    "UnknownKeyError",
    "VerifyingKey",
    "WrongPassphraseError",
    "associated_data",
    "open_field",
    "public_key_id",
    "seal_field",
    "sm3",
    "sm3_hex",
    "verify_signature",
]

DIGEST_PREFIX = "sm3:"


sm3: _sm3.SM3Function = _sm3.sm3
"""SM3 digest (32 bytes) of the concatenation of the arguments (GB/T 32905-2016).

The self-tested primitive itself, not a wrapper: it is the ledger's per-leaf and per-node cost."""


def sm3_hex(*parts: bytes) -> str:
    """SM3 digest of the concatenation of `parts` as ``"sm3:<64 hex digits>"``."""
    return DIGEST_PREFIX + _sm3.sm3(*parts).hex()
