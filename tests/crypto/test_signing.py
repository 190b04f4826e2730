"""Signing recipes: PEM round trips, key ids, verify never raising, no key material in reprs."""

from __future__ import annotations

import pickle
import re

import pytest

from crypto.errors import CryptoError, KeyFormatError, WrongPassphraseError
from crypto.primitives import sm2_keys
from crypto.primitives.sm2_keys import ScryptParams
from crypto.recipes import SigningKey, VerifyingKey, public_key_id, verify_signature

FAST = ScryptParams(n=1 << 10)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("ledger-1")


def _secret_forms(key: SigningKey) -> list[str]:
    private = key._private
    return [
        private.hex(),
        private.hex().upper(),
        sm2_keys.pem_encode("PRIVATE KEY", sm2_keys.pkcs8_der(private, key._public)).decode()[28:90],
    ]


def test_sign_verify_round_trip(key: SigningKey) -> None:
    sig = key.sign(b"checkpoint")
    assert verify_signature(key.public_key_pem(), b"checkpoint", sig)
    assert not verify_signature(key.public_key_pem(), b"checkpoinT", sig)
    assert key.verifying_key().verify(b"checkpoint", sig)


def test_signatures_are_randomised(key: SigningKey) -> None:
    assert key.sign(b"m") != key.sign(b"m")


@pytest.mark.parametrize("signature", [b"", b"\x00" * 72, b"\x30\x06\x02\x01\x01\x02\x01\x01", "text"])
def test_verify_signature_returns_false_for_bad_signatures(key: SigningKey, signature: object) -> None:
    assert verify_signature(key.public_key_pem(), b"m", signature) is False  # type: ignore[arg-type]


def test_verify_signature_raises_only_for_bad_public_key(key: SigningKey) -> None:
    sig = key.sign(b"m")
    for bad in (
        b"",
        b"not pem",
        b"-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n",
        key.private_key_pem(b"pw", params=FAST),
    ):
        with pytest.raises(KeyFormatError):
            verify_signature(bad, b"m", sig)
    assert issubclass(KeyFormatError, CryptoError)


def test_public_key_id_is_stable_and_formatted(key: SigningKey) -> None:
    pem = key.public_key_pem()
    kid = public_key_id(pem)
    assert re.fullmatch(r"sm2:[0-9a-f]{16}", kid)
    reflowed = pem.replace(b"\n", b"\r\n")
    assert public_key_id(reflowed) == kid
    fresh = SigningKey.generate()
    assert fresh.key_id == public_key_id(fresh.public_key_pem())
    assert public_key_id(SigningKey.generate().public_key_pem()) != kid


def test_encrypted_pem_round_trip(key: SigningKey) -> None:
    pem = key.private_key_pem(b"correct horse", params=FAST)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = SigningKey.from_pem(pem, b"correct horse", "ledger-1")
    assert loaded.public_key_pem() == key.public_key_pem()
    assert verify_signature(key.public_key_pem(), b"m", loaded.sign(b"m"))


def test_wrong_passphrase_and_corruption_give_one_error(key: SigningKey) -> None:
    pem = key.private_key_pem(b"pw", params=FAST)
    with pytest.raises(WrongPassphraseError):
        SigningKey.from_pem(pem, b"wrong")
    label, body = sm2_keys.pem_decode(pem, "t")
    tampered = sm2_keys.pem_encode(label, body[:-20] + bytes(b ^ 0xFF for b in body[-20:]))
    with pytest.raises(WrongPassphraseError):
        SigningKey.from_pem(tampered, b"pw")
    with pytest.raises(KeyFormatError, match="passphrase is required"):
        SigningKey.from_pem(pem, None)


def test_empty_passphrase_is_refused(key: SigningKey) -> None:
    with pytest.raises(KeyFormatError, match="empty passphrase"):
        key.private_key_pem(b"")


def test_unencrypted_pkcs8_loads(key: SigningKey) -> None:
    plain = sm2_keys.pem_encode("PRIVATE KEY", sm2_keys.pkcs8_der(key._private, key._public))
    assert SigningKey.from_pem(plain, None).public_key_pem() == key.public_key_pem()


def test_mismatched_public_key_in_pkcs8_is_rejected(key: SigningKey) -> None:
    other = SigningKey.generate()
    bad = sm2_keys.pem_encode("PRIVATE KEY", sm2_keys.pkcs8_der(key._private, other._public))
    with pytest.raises(KeyFormatError, match="does not belong"):
        SigningKey.from_pem(bad, None)


def test_reprs_and_errors_carry_no_key_material(key: SigningKey) -> None:
    texts = [repr(key), str(key), repr(key.verifying_key())]
    pem = key.private_key_pem(b"pw", params=FAST)
    for bad_pem, passphrase in ((pem, b"bad"), (pem[:-60], b"pw")):
        with pytest.raises(CryptoError) as info:
            SigningKey.from_pem(bad_pem, passphrase)
        texts += [str(info.value), repr(info.value)]
    for text in texts:
        for secret in _secret_forms(key):
            assert secret not in text
        assert "PRIVATE KEY" not in text
    assert repr(key) == "SigningKey(key_id='ledger-1')"


def test_signing_key_is_frozen_and_not_picklable(key: SigningKey) -> None:
    with pytest.raises(AttributeError):
        key.key_id = "other"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


def test_verifying_key_equality_and_pem(key: SigningKey) -> None:
    vk = VerifyingKey.from_pem(key.public_key_pem())
    assert vk == key.verifying_key()
    assert vk.key_id == public_key_id(key.public_key_pem())
    assert vk.public_key_pem() == key.public_key_pem()
    assert hash(vk) == hash(key.verifying_key())
