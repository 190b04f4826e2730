"""SM4 modes against GB/T 32907, draft-ribose-cfrg-sm4 and RFC 8998 vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.errors import DecryptionError
from crypto.primitives import sm4
from crypto.vectors import VectorCase, load_vectors

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _cases(relative: str) -> list[object]:
    return [pytest.param(c, id=c.name) for c in load_vectors(VECTORS / relative).cases]


@pytest.mark.parametrize("case", _cases("sm4/gbt32907.txt"))
def test_block_cipher_matches_standard(case: VectorCase) -> None:
    got = sm4.ecb_encrypt_iterated(case.hex("Key"), case.hex("Plaintext"), int(case.text("Rounds")))
    assert got == case.hex("Ciphertext")


@pytest.mark.parametrize("case", _cases("sm4/draft-ribose-cfrg-sm4-10-cbc.txt"))
def test_cbc_matches_vectors(case: VectorCase) -> None:
    key, iv, pt = case.hex("Key"), case.hex("IV"), case.hex("Plaintext")
    assert sm4.cbc_encrypt_nopad(key, iv, pt) == case.hex("Ciphertext")
    # With PKCS#7 a whole block of padding follows; the first blocks are the vector's.
    padded = sm4.cbc_encrypt(key, iv, pt)
    assert padded[: len(pt)] == case.hex("Ciphertext")
    assert len(padded) == len(pt) + 16
    assert sm4.cbc_decrypt(key, iv, padded) == pt


@pytest.mark.parametrize("case", _cases("sm4/rfc8998-gcm.txt"))
def test_gcm_matches_rfc8998(case: VectorCase) -> None:
    key, iv, aad = case.hex("Key"), case.hex("IV"), case.hex("AAD")
    sealed = sm4.gcm_encrypt(key, iv, case.hex("Plaintext"), aad)
    assert sealed == case.hex("Ciphertext") + case.hex("Tag")
    assert sm4.gcm_decrypt(key, iv, sealed, aad) == case.hex("Plaintext")


@pytest.mark.parametrize("case", _cases("sm4/rfc8998-gcm.txt"))
def test_gcm_rejects_any_flipped_bit_or_wrong_aad(case: VectorCase) -> None:
    key, iv, aad = case.hex("Key"), case.hex("IV"), case.hex("AAD")
    sealed = case.hex("Ciphertext") + case.hex("Tag")
    for position in range(0, len(sealed), 7):
        forged = bytearray(sealed)
        forged[position] ^= 0x40
        with pytest.raises(DecryptionError):
            sm4.gcm_decrypt(key, iv, bytes(forged), aad)
    with pytest.raises(DecryptionError):
        sm4.gcm_decrypt(key, iv, sealed, aad + b"x")
    with pytest.raises(DecryptionError):
        sm4.gcm_decrypt(key, iv, sealed[:10], aad)


def test_cbc_decrypt_errors_are_opaque() -> None:
    key, iv = bytes(16), bytes(16)
    ct = sm4.cbc_encrypt(key, iv, b"hello")
    for bad in (ct[:-1], b"", ct[:-16] + bytes(16)):
        with pytest.raises(DecryptionError) as info:
            sm4.cbc_decrypt(key, iv, bad)
        assert str(info.value) == "authenticated decryption failed"


def test_bad_key_and_iv_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        sm4.gcm_encrypt(bytes(15), bytes(12), b"", b"")
    with pytest.raises(ValueError, match="IV"):
        sm4.gcm_encrypt(bytes(16), bytes(16), b"", b"")
    with pytest.raises(ValueError, match="IV"):
        sm4.cbc_encrypt(bytes(16), bytes(12), b"")
