"""Property tests: arbitrary bytes into every parser give a `CryptoError` (or False), never a crash."""

from __future__ import annotations

import base64
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import CryptoError, KeyFormatError
from crypto.primitives import der, sm2_keys
from crypto.recipes import SealedField, SealingKey, SigningKey, open_field, seal_field, verify_signature

KEY = SigningKey.generate("fuzz")
PUB = KEY.public_key_pem()
SIG = KEY.sign(b"m")
SEAL = SealingKey("seal:fuzz", bytes(32))


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """Single-byte changes, truncations and extensions of a valid encoding."""
    flips = st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)).map(
        lambda t: data[: t[0]] + bytes([data[t[0]] ^ t[1]]) + data[t[0] + 1 :]
    )
    cuts = st.integers(0, len(data) - 1).map(lambda n: data[:n])
    extensions = st.binary(min_size=1, max_size=8).map(lambda extra: data + extra)
    return st.one_of(flips, cuts, extensions, st.binary(max_size=200))


@settings(max_examples=300, deadline=None)
@given(_mutations(SIG))
def test_verify_never_raises_on_signature_garbage(signature: bytes) -> None:
    assert verify_signature(PUB, b"m", signature) is (signature == SIG)


@settings(max_examples=300, deadline=None)
@given(_mutations(sm2_keys.spki_der(KEY._public)))
def test_public_key_parser_raises_only_key_format_error(data: bytes) -> None:
    pem = sm2_keys.pem_encode("PUBLIC KEY", data)
    with contextlib.suppress(KeyFormatError):
        verify_signature(pem, b"m", SIG)


@settings(max_examples=200, deadline=None)
@given(_mutations(sm2_keys.pkcs8_der(KEY._private, KEY._public)))
def test_private_key_parser_raises_only_key_format_error(data: bytes) -> None:
    try:
        loaded = SigningKey.from_pem(sm2_keys.pem_encode("PRIVATE KEY", data), None)
    except KeyFormatError:
        return
    # Whatever parsed must still be a consistent key pair.
    assert loaded.verifying_key().verify(b"x", loaded.sign(b"x"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_der_decoder_raises_only_der_error(data: bytes) -> None:
    with contextlib.suppress(der.DERError):
        der.decode_all(data, "fuzz")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["sealed", "kid", "iv", "ct", "mac", "x"]),
        st.one_of(st.text(max_size=30), st.integers()),
    )
)
def test_sealed_field_parser_raises_only_crypto_error(data: dict[str, object]) -> None:
    with contextlib.suppress(CryptoError):
        open_field(SEAL, "r", "f", data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.text(max_size=20), st.text(max_size=20))
def test_seal_open_round_trip(plaintext: bytes, record_id: str, field: str) -> None:
    for alg in ("sm4-gcm", "sm4-cbc-hmac-sm3"):
        sealed = seal_field(SEAL, record_id, field, plaintext, alg=alg)
        assert open_field(SEAL, record_id, field, SealedField.from_dict(sealed.to_dict())) == plaintext
        assert base64.b64decode(sealed.to_dict()["ct"]) == sealed.ct
