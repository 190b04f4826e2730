"""Field sealing: encrypt one sensitive value of one record, bound to where it belongs.

A sealed value is stored in place of the plaintext as a JSON-friendly dict::

    {"sealed": "sm4-gcm", "kid": "seal:…", "iv": "<b64>", "ct": "<b64 ciphertext||tag>"}
    {"sealed": "sm4-cbc-hmac-sm3", "kid": "seal:…", "iv": "<b64>", "ct": "<b64>", "mac": "<b64>"}

Binding: the associated data is ``"datasoc-seal/1" || alg || kid || record_id || field``, each part
length-prefixed (4-byte big-endian) so no two different tuples encode alike. Moving a sealed value to
another record or field, or relabelling its key id or algorithm, makes `open_field` fail.

Modes:
- ``sm4-gcm`` (default; RFC 8998 §3.1): 12-byte IV from the caller or `rng`. IVs must never repeat
  under one key; 96 random bits per value keeps the collision chance negligible for the 2^32 values
  per key that NIST SP 800-38D §8.3 allows (rotate the sealing key well before that).
- ``sm4-cbc-hmac-sm3``: encrypt-then-MAC (SM4-CBC with PKCS#7, then HMAC-SM3 over
  AD-length || AD || IV || CT), for auditors limited to stock OpenSSL 3.0:
  ``openssl enc -d -sm4-cbc -K <enc key hex> -iv <iv hex>`` decrypts ``ct`` once the MAC is checked.

Subkeys: a `SealingKey` holds 32 bytes of master key; each mode derives its own keys with
HMAC-SM3(master, label) (RFC 2104 used as a PRF), labels ``datasoc-seal/1 sm4-gcm``,
``datasoc-seal/1 sm4-cbc enc`` and ``datasoc-seal/1 hmac-sm3 mac``, so one key never serves two modes.

Failures on open are one opaque `SealError("cannot open sealed field")`: no oracle telling a
wrong key from a tampered or moved value.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from crypto.errors import DecryptionError, SealError
from crypto.primitives import sm3 as _sm3
from crypto.primitives import sm4

SealAlg = Literal["sm4-gcm", "sm4-cbc-hmac-sm3"]
SEAL_ALGS: Final[tuple[str, ...]] = ("sm4-gcm", "sm4-cbc-hmac-sm3")
MASTER_KEY_SIZE = 32
_CONTEXT = b"datasoc-seal/1"
_IV_SIZES: Final[dict[str, int]] = {"sm4-gcm": sm4.GCM_IV_SIZE, "sm4-cbc-hmac-sm3": sm4.BLOCK_SIZE}
_OPEN_FAILED = "cannot open sealed field"

Rng = Callable[[int], bytes]


class SealingKey:
    """A 32-byte SM4 sealing master key with its id. `repr` shows the id only."""

    __slots__ = ("_cbc_key", "_gcm_key", "_mac_key", "_master", "key_id")

    def __init__(self, key_id: str, master: bytes) -> None:
        if not key_id or len(master) != MASTER_KEY_SIZE:
            raise SealError(f"sealing key {key_id!r}: needs a non-empty id and {MASTER_KEY_SIZE} key bytes")
        self.key_id: str = key_id
        self._master = bytes(master)
        self._gcm_key = _sm3.hmac_sm3(master, _CONTEXT + b" sm4-gcm")[: sm4.KEY_SIZE]
        self._cbc_key = _sm3.hmac_sm3(master, _CONTEXT + b" sm4-cbc enc")[: sm4.KEY_SIZE]
        self._mac_key = _sm3.hmac_sm3(master, _CONTEXT + b" hmac-sm3 mac")

    @classmethod
    def generate(cls, key_id: str, *, rng: Rng = os.urandom) -> SealingKey:
        """A fresh key from `rng` (the OS CSPRNG by default)."""
        return cls(key_id, rng(MASTER_KEY_SIZE))

    def export_master(self) -> bytes:
        """The raw master key, for the key store to wrap. Never log or return it from an API."""
        return self._master

    def cbc_keys_hex(self) -> tuple[str, str]:
        """`(sm4-cbc key hex, hmac-sm3 key hex)` for an auditor's `openssl enc -d -sm4-cbc -K …` use."""
        return self._cbc_key.hex(), self._mac_key.hex()

    def __repr__(self) -> str:
        return f"SealingKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("SealingKey cannot be pickled")


@dataclass(frozen=True, slots=True)
class SealedField:
    """A sealed value: algorithm, key id, IV, ciphertext (GCM: with tag) and, for CBC, the MAC."""

    alg: str
    kid: str
    iv: bytes
    ct: bytes
    mac: bytes = b""

    def __post_init__(self) -> None:
        if self.alg not in SEAL_ALGS:
            raise SealError(f"unknown sealing algorithm {self.alg!r}; expected one of {SEAL_ALGS}")
        if not isinstance(self.kid, str) or not self.kid:
            raise SealError("sealed field has no key id")
        if len(self.iv) != _IV_SIZES[self.alg]:
            raise SealError(f"sealed field ({self.alg}): IV must be {_IV_SIZES[self.alg]} bytes")
        if self.alg == "sm4-cbc-hmac-sm3" and len(self.mac) != _sm3.DIGEST_SIZE:
            raise SealError("sealed field (sm4-cbc-hmac-sm3): MAC must be 32 bytes")
        if self.alg == "sm4-gcm" and (self.mac or len(self.ct) < sm4.GCM_TAG_SIZE):
            raise SealError("sealed field (sm4-gcm): ciphertext shorter than the tag, or stray MAC")

    def to_dict(self) -> dict[str, str]:
        """JSON-friendly form stored in place of the plaintext."""
        out = {"sealed": self.alg, "kid": self.kid, "iv": _b64(self.iv), "ct": _b64(self.ct)}
        if self.mac:
            out["mac"] = _b64(self.mac)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SealedField:
        """Parse `to_dict` output; raises `SealError` naming the bad key."""
        if not isinstance(data, Mapping):
            raise SealError("sealed field must be a JSON object")
        extra = set(data) - {"sealed", "kid", "iv", "ct", "mac"}
        if extra:
            raise SealError(f"sealed field has unexpected keys {sorted(extra)}")
        for key in ("sealed", "kid", "iv", "ct"):
            if not isinstance(data.get(key), str):
                raise SealError(f"sealed field: {key!r} missing or not a string")
        mac = data.get("mac", "")
        if not isinstance(mac, str):
            raise SealError("sealed field: 'mac' is not a string")
        return cls(
            alg=data["sealed"],
            kid=data["kid"],
            iv=_unb64(data["iv"], "iv"),
            ct=_unb64(data["ct"], "ct"),
            mac=_unb64(mac, "mac") if mac else b"",
        )

    @staticmethod
    def looks_sealed(value: object) -> bool:
        """True when `value` is a dict shaped like a sealed field (cheap check, no validation)."""
        return isinstance(value, Mapping) and value.get("sealed") in SEAL_ALGS and "ct" in value


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, key: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SealError(f"sealed field: {key!r} is not valid base64") from None


def associated_data(alg: str, kid: str, record_id: str, field: str) -> bytes:
    """The length-prefixed binding of a sealed value to its algorithm, key, record and field."""
    parts = [_CONTEXT, alg.encode(), kid.encode(), record_id.encode(), field.encode()]
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def seal_field(
    key: SealingKey,
    record_id: str,
    field: str,
    plaintext: bytes,
    *,
    iv: bytes | None = None,
    rng: Rng = os.urandom,
    alg: SealAlg = "sm4-gcm",
) -> SealedField:
    """Seal `plaintext` as field `field` of record `record_id`.

    Pass `iv` for deterministic output (tests, vectors); otherwise it is drawn from `rng`. An IV must
    never be reused with the same key.
    """
    if not isinstance(record_id, str) or not isinstance(field, str):
        raise SealError("record id and field name must be strings")
    if alg not in _IV_SIZES:
        raise SealError(f"unknown sealing algorithm {alg!r}; expected one of {SEAL_ALGS}")
    if iv is None:
        iv = rng(_IV_SIZES[alg])
    if len(iv) != _IV_SIZES[alg]:
        raise SealError(f"{alg}: IV must be {_IV_SIZES[alg]} bytes")
    ad = associated_data(alg, key.key_id, record_id, field)
    if alg == "sm4-gcm":
        ct = sm4.gcm_encrypt(key._gcm_key, iv, bytes(plaintext), ad)
        return SealedField(alg=alg, kid=key.key_id, iv=iv, ct=ct)
    ct = sm4.cbc_encrypt(key._cbc_key, iv, bytes(plaintext))
    mac = _sm3.hmac_sm3(key._mac_key, struct.pack(">Q", len(ad)), ad, iv, ct)
    return SealedField(alg=alg, kid=key.key_id, iv=iv, ct=ct, mac=mac)


def open_field(
    keys: SealingKey | Mapping[str, SealingKey],
    record_id: str,
    field: str,
    sealed: SealedField | Mapping[str, Any],
) -> bytes:
    """Open a sealed value of field `field` of record `record_id`.

    `keys` is one key or a mapping from key id to key (e.g. `KeyStore.sealing_keys()`), so values
    sealed under rotated-out keys still open. Every failure raises the same `SealError`, except a
    malformed sealed dict, which names its bad key (that says nothing about the plaintext).
    """
    if not isinstance(sealed, SealedField):
        sealed = SealedField.from_dict(sealed)
    key = keys if isinstance(keys, SealingKey) else keys.get(sealed.kid)
    if key is None or key.key_id != sealed.kid:
        raise SealError(_OPEN_FAILED)
    ad = associated_data(sealed.alg, sealed.kid, record_id, field)
    try:
        if sealed.alg == "sm4-gcm":
            return sm4.gcm_decrypt(key._gcm_key, sealed.iv, sealed.ct, ad)
        # Encrypt-then-MAC: check the MAC before touching the padding (no padding oracle).
        if not _sm3.hmac_sm3_verify(
            key._mac_key, sealed.mac, struct.pack(">Q", len(ad)), ad, sealed.iv, sealed.ct
        ):
            raise SealError(_OPEN_FAILED)
        return sm4.cbc_decrypt(key._cbc_key, sealed.iv, sealed.ct)
    except DecryptionError:
        raise SealError(_OPEN_FAILED) from None
