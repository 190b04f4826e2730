"""SM2 signing recipes: `SigningKey`, `VerifyingKey`, `verify_signature`, `public_key_id`.

Signatures are in the interoperable form (DER over SM3(Z || M), user id 1234567812345678; keys as
SPKI and PKCS#8 PEM), so ``openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3
-pkeyopt distid:1234567812345678 -in msg.bin -sigfile sig.der`` verifies what `SigningKey.sign` makes.

Key ids: `public_key_id(pem)` is ``"sm2:"`` + the first 16 hex digits of SM3(SPKI DER): stable across
PEM formatting because it hashes the DER. `SigningKey.generate()` uses it when no id is given.
Callers import these names from `crypto.recipes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from crypto.errors import KeyFormatError
from crypto.primitives import sm2, sm2_keys
from crypto.primitives import sm3 as _sm3
from crypto.primitives.sm2_keys import ScryptParams

DEFAULT_USER_ID = sm2.DEFAULT_USER_ID
Rng = Callable[[int], bytes]


def _key_id_from_public(public: bytes) -> str:
    return "sm2:" + _sm3.sm3(sm2_keys.spki_der(public)).hex()[:16]


def public_key_id(public_key_pem: bytes) -> str:
    """Stable key id of an SM2 public key: ``"sm2:"`` + 16 hex digits of SM3(SPKI DER).

    Raises `KeyFormatError` when the PEM is not an SM2 SPKI public key.
    """
    return _key_id_from_public(sm2_keys.load_public_pem(public_key_pem))


class VerifyingKey:
    """An SM2 public key, parsed once; verifies many signatures."""

    __slots__ = ("_public", "key_id")

    def __init__(self, public: bytes, key_id: str | None = None) -> None:
        if not sm2.is_on_curve(public):
            raise KeyFormatError("public key is not a point on the SM2 curve")
        self._public = public
        self.key_id: str = key_id if key_id is not None else _key_id_from_public(public)

    @classmethod
    def from_pem(cls, public_key_pem: bytes, key_id: str | None = None) -> VerifyingKey:
        """Parse an SPKI PEM; raises `KeyFormatError` when it is not an SM2 public key."""
        return cls(sm2_keys.load_public_pem(public_key_pem), key_id)

    def public_key_pem(self) -> bytes:
        """SPKI PEM of this key."""
        return sm2_keys.public_pem(self._public)

    def public_key_der(self) -> bytes:
        """SPKI DER of this key."""
        return sm2_keys.spki_der(self._public)

    def verify(self, message: bytes, signature_der: bytes) -> bool:
        """True only for a valid signature; never raises on a bad or malformed signature."""
        if not isinstance(message, bytes | bytearray) or not isinstance(signature_der, bytes | bytearray):
            return False
        return sm2.verify(self._public, bytes(message), bytes(signature_der))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyingKey) and other._public == self._public

    def __hash__(self) -> int:
        return hash(self._public)

    def __repr__(self) -> str:
        return f"VerifyingKey(key_id={self.key_id!r})"


class SigningKey:
    """An SM2 private key with its key id. `repr`/`str` show the id only, never key material."""

    __slots__ = ("_private", "_public", "key_id")

    def __init__(self, private: bytes, public: bytes, key_id: str) -> None:
        if not sm2.is_valid_private(private) or not sm2.is_on_curve(public):
            raise KeyFormatError("invalid SM2 key pair", where=key_id)
        self._private = private
        self._public = public
        self.key_id: str = key_id

    def __setattr__(self, name: str, value: object) -> None:
        # Frozen once built: a signer whose key changes under it would sign with the wrong id.
        if hasattr(self, name):
            raise AttributeError(f"SigningKey.{name} is read-only")
        object.__setattr__(self, name, value)

    @classmethod
    def generate(cls, key_id: str | None = None) -> SigningKey:
        """A fresh key from GmSSL's CSPRNG; `key_id` defaults to the public key id."""
        private, public = sm2.generate_keypair()
        return cls(private, public, key_id if key_id is not None else _key_id_from_public(public))

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None, key_id: str | None = None) -> SigningKey:
        """Load PKCS#8 (encrypted or not) or SEC1 PEM, e.g. from `openssl genpkey -algorithm SM2`.

        Raises `KeyFormatError` (`WrongPassphraseError` when decryption fails).
        """
        where = key_id or "private key"
        private, public = sm2_keys.load_private_pem(pem, passphrase, where)
        return cls(private, public, key_id if key_id is not None else _key_id_from_public(public))

    def sign(self, message: bytes) -> bytes:
        """DER SM2 signature over SM3(Z || message) with user id 1234567812345678."""
        return sm2.sign(self._private, self._public, bytes(message))

    def verifying_key(self) -> VerifyingKey:
        """The public half, carrying the same key id."""
        return VerifyingKey(self._public, self.key_id)

    def public_key_pem(self) -> bytes:
        """SPKI PEM of the public key."""
        return sm2_keys.public_pem(self._public)

    def private_key_pem(
        self, passphrase: bytes, *, rng: Rng = os.urandom, params: ScryptParams | None = None
    ) -> bytes:
        """Encrypted PKCS#8 PEM (PBES2: scrypt + SM4-CBC), readable by `openssl pkey -passin`."""
        if not passphrase:
            raise KeyFormatError(
                "refusing to write a private key under an empty passphrase", where=self.key_id
            )
        return sm2_keys.encrypted_pkcs8_pem(
            self._private, self._public, passphrase, salt=rng(16), iv=rng(16), params=params or ScryptParams()
        )

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would copy the private scalar into caches and queues unencrypted.
        raise TypeError("SigningKey cannot be pickled; use private_key_pem(passphrase)")


def verify_signature(public_key_pem: bytes, message: bytes, signature_der: bytes) -> bool:
    """True only when `signature_der` is a valid SM2 signature of `message` under the PEM public key.

    Returns False (never raises) for a bad or malformed signature; raises `KeyFormatError` (a
    `CryptoError`) only when `public_key_pem` is not an SM2 SPKI PEM.
    """
    return VerifyingKey.from_pem(public_key_pem).verify(message, signature_der)
