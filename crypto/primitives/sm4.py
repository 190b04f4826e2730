"""SM4 block cipher (GB/T 32907-2016) modes via pyca `cryptography`.

LOW-LEVEL: raw keys and IVs, no key ids, no binding of context. Callers outside `crypto/` use
`crypto.recipes.seal_field` / `open_field`, which choose IVs, bind associated data and record key ids.

- GCM (RFC 8998 §3.1 / NIST SP 800-38D): 12-byte IV, 16-byte tag appended to the ciphertext.
- CBC with PKCS#7 padding: what `openssl enc -sm4-cbc -K <hex> -iv <hex>` reads, for auditors who
  only have stock OpenSSL 3.0 (its CLI has no SM4-GCM). CBC alone is malleable: use it only inside
  the encrypt-then-MAC construction in `crypto.sealing`.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.errors import DecryptionError

KEY_SIZE = 16
BLOCK_SIZE = 16
GCM_IV_SIZE = 12
GCM_TAG_SIZE = 16


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"SM4 key must be {KEY_SIZE} bytes, got {len(key)}")


def ecb_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt exactly one 16-byte block (for known-answer tests only; ECB is not a mode to use)."""
    _check_key(key)
    if len(block) != BLOCK_SIZE:
        raise ValueError("SM4 block must be 16 bytes")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305  (single-block KAT)
    return enc.update(block) + enc.finalize()


def ecb_encrypt_iterated(key: bytes, block: bytes, rounds: int) -> bytes:
    """Encrypt `block` `rounds` times with the same key (GB/T 32907 Appendix A example 2)."""
    _check_key(key)
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305  (KAT only)
    for _ in range(rounds):
        block = enc.update(block)
    enc.finalize()
    return block


def gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """SM4-GCM: return ciphertext || 16-byte tag."""
    _check_key(key)
    if len(iv) != GCM_IV_SIZE:
        raise ValueError(f"SM4-GCM IV must be {GCM_IV_SIZE} bytes")
    enc = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(associated_data)
    ciphertext = enc.update(plaintext) + enc.finalize()
    return ciphertext + enc.tag


def gcm_decrypt(key: bytes, iv: bytes, ciphertext_and_tag: bytes, associated_data: bytes) -> bytes:
    """Inverse of `gcm_encrypt`; raises the opaque `DecryptionError` on any authentication failure."""
    _check_key(key)
    if len(iv) != GCM_IV_SIZE or len(ciphertext_and_tag) < GCM_TAG_SIZE:
        raise DecryptionError()
    body, tag = ciphertext_and_tag[:-GCM_TAG_SIZE], ciphertext_and_tag[-GCM_TAG_SIZE:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(iv, tag)).decryptor()
    dec.authenticate_additional_data(associated_data)
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag:
        raise DecryptionError() from None


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding (unauthenticated: pair it with a MAC)."""
    _check_key(key)
    if len(iv) != BLOCK_SIZE:
        raise ValueError("SM4-CBC IV must be 16 bytes")
    padder = padding.PKCS7(BLOCK_SIZE * 8).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def cbc_encrypt_nopad(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC without padding (plaintext a multiple of 16 bytes; for known-answer tests)."""
    _check_key(key)
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return enc.update(plaintext) + enc.finalize()


def cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Inverse of `cbc_encrypt`; raises the opaque `DecryptionError` on bad length or padding.

    Only call this after the MAC has been checked, or padding errors become an oracle.
    """
    _check_key(key)
    if len(iv) != BLOCK_SIZE or not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise DecryptionError()
    dec = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(BLOCK_SIZE * 8).unpadder()
    try:
        return unpadder.update(dec.update(ciphertext) + dec.finalize()) + unpadder.finalize()
    except ValueError:
        raise DecryptionError() from None
