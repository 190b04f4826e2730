"""Start-up known-answer self-test: the process must refuse to start when any check fails.

Checks, each on the vector files shipped in `crypto/selftest_vectors/` (copies of `tests/vectors/`):
1. SM3 (GB/T 32905-2016 App. A) on every available backend (hashlib when present, pyca) and on the
   backend `crypto.recipes.sm3` chose.
2. SM4 single-block encryption (GB/T 32907-2016 App. A example 1; example 2, 10^6 rounds, only when
   `thorough=True` because it takes about 0.3 s).
3. SM4-CBC (draft-ribose-cfrg-sm4-10 A.2.2).
4. SM4-GCM (RFC 8998 A.1): encryption, decryption, and rejection of a flipped tag bit.
5. SM2: the OpenSSL-made known-answer signature verifies, the empty-user-id one does not, and a
   fresh key's sign-then-verify round trip holds (and fails for another message).
6. Field sealing round trip with a fixed key and IV, and rejection of a value moved to another field.
"""

from __future__ import annotations

from collections.abc import Callable

from crypto.errors import CryptoError, CryptoSelfTestError, DecryptionError
from crypto.primitives import sm2, sm2_keys, sm3, sm4
from crypto.sealing import SealingKey, open_field, seal_field
from crypto.vectors import VectorFile, load_runtime_vectors


def _expect(check: str, condition: bool, detail: str) -> None:
    if not condition:
        raise CryptoSelfTestError(check, detail)


def _check_sm3(vectors: VectorFile) -> None:
    backends: dict[str, Callable[..., bytes]] = {"cryptography": sm3.sm3_cryptography, "chosen": sm3.sm3}
    if sm3.sm3_hashlib is not None:
        backends["hashlib"] = sm3.sm3_hashlib
    for case in vectors.cases:
        msg, digest = case.hex("Msg"), case.hex("MD")
        for backend, function in backends.items():
            _expect(f"sm3/{case.name}/{backend}", function(msg) == digest, "digest mismatch")
        # Split input must hash like the concatenation (recipes hash parts without joining them).
        _expect(f"sm3/{case.name}/parts", sm3.sm3(msg[:1], msg[1:]) == digest, "digest of parts mismatch")


def _check_sm4_block(vectors: VectorFile, thorough: bool) -> None:
    for case in vectors.cases:
        rounds = int(case.text("Rounds"))
        if rounds > 1 and not thorough:
            continue
        got = sm4.ecb_encrypt_iterated(case.hex("Key"), case.hex("Plaintext"), rounds)
        _expect(f"sm4/{case.name}", got == case.hex("Ciphertext"), "ciphertext mismatch")


def _check_sm4_cbc(vectors: VectorFile) -> None:
    for case in vectors.cases:
        got = sm4.cbc_encrypt_nopad(case.hex("Key"), case.hex("IV"), case.hex("Plaintext"))
        _expect(f"sm4-cbc/{case.name}", got == case.hex("Ciphertext"), "ciphertext mismatch")


def _check_sm4_gcm(vectors: VectorFile) -> None:
    for case in vectors.cases:
        key, iv, aad = case.hex("Key"), case.hex("IV"), case.hex("AAD")
        expected = case.hex("Ciphertext") + case.hex("Tag")
        check = f"sm4-gcm/{case.name}"
        _expect(
            check, sm4.gcm_encrypt(key, iv, case.hex("Plaintext"), aad) == expected, "ciphertext mismatch"
        )
        _expect(
            check, sm4.gcm_decrypt(key, iv, expected, aad) == case.hex("Plaintext"), "decryption mismatch"
        )
        forged = expected[:-1] + bytes([expected[-1] ^ 1])
        try:
            sm4.gcm_decrypt(key, iv, forged, aad)
        except DecryptionError:
            pass
        else:
            raise CryptoSelfTestError(check, "a forged tag was accepted")


def _check_sm2(vectors: VectorFile) -> None:
    for case in vectors.cases:
        check = f"sm2/{case.name}"
        try:
            public = sm2_keys.load_public_der(case.hex("PublicKey"), check)
        except CryptoError as exc:
            raise CryptoSelfTestError(check, f"public key does not load ({type(exc).__name__})") from None
        ok = sm2.verify(public, case.hex("Msg"), case.hex("Signature"))
        _expect(check, ok == (case.text("Result") == "P"), f"verification returned {ok}")
    private, public = sm2.generate_keypair()
    _expect("sm2/keygen", sm2.public_from_private(private) == public, "public key is not d*G")
    message = b"datasoc sm2 self-test"
    signature = sm2.sign(private, public, message)
    _expect("sm2/round-trip", sm2.verify(public, message, signature), "own signature does not verify")
    _expect(
        "sm2/round-trip",
        not sm2.verify(public, message + b"!", signature),
        "signature verifies wrong message",
    )


def _check_sealing() -> None:
    key = SealingKey("selftest", bytes(range(32)))
    sealed = seal_field(key, "record-1", "field-a", b"secret", iv=bytes(12))
    _expect("seal/round-trip", open_field(key, "record-1", "field-a", sealed) == b"secret", "round trip")
    try:
        open_field(key, "record-1", "field-b", sealed)
    except CryptoError:
        return
    raise CryptoSelfTestError("seal/binding", "a value moved to another field opened")


def run_self_test(*, thorough: bool = False) -> None:
    """Run every known-answer check; raise `CryptoSelfTestError` naming the first failure.

    `thorough=True` adds the slow iterated SM4 vector. Any unexpected exception inside a check is
    also reported as a self-test failure (a broken backend must stop start-up, not crash it later).
    """
    steps: list[tuple[str, Callable[[], None]]] = [
        ("sm3", lambda: _check_sm3(load_runtime_vectors("sm3/gbt32905.txt"))),
        ("sm4", lambda: _check_sm4_block(load_runtime_vectors("sm4/gbt32907.txt"), thorough)),
        ("sm4-cbc", lambda: _check_sm4_cbc(load_runtime_vectors("sm4/draft-ribose-cfrg-sm4-10-cbc.txt"))),
        ("sm4-gcm", lambda: _check_sm4_gcm(load_runtime_vectors("sm4/rfc8998-gcm.txt"))),
        ("sm2", lambda: _check_sm2(load_runtime_vectors("sm2/openssl3-kat.txt"))),
        ("seal", _check_sealing),
    ]
    for name, step in steps:
        try:
            step()
        except CryptoSelfTestError:
            raise
        except Exception as exc:  # any backend failure is a self-test failure, reported by type only
            raise CryptoSelfTestError(name, f"unexpected {type(exc).__name__}") from exc
