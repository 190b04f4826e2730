"""Error root of `crypto`: every error raised by `crypto.*` is a `CryptoError`.

Messages name what failed and where (a file, a key id, a field) but never carry key material,
plaintext, passphrases or ciphertext: they may end up in logs and API responses.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Root of the crypto package's errors."""


class CryptoSelfTestError(CryptoError):
    """A start-up known-answer test failed: the process must refuse to start.

    `check` names the failing test (e.g. ``"sm3/gbt32905-abc"``).
    """

    def __init__(self, check: str, detail: str) -> None:
        self.check = check
        self.detail = detail
        super().__init__(f"crypto self-test {check!r} failed: {detail}")


class KeyFormatError(CryptoError, ValueError):
    """A key (PEM/DER) could not be parsed or is not an SM2 key; `where` names its source."""

    def __init__(self, detail: str, *, where: str = "") -> None:
        self.detail = detail
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{detail}")


class WrongPassphraseError(KeyFormatError):
    """An encrypted private key did not decrypt: wrong passphrase or corrupted file."""


class KeyStoreError(CryptoError):
    """The on-disk key store is missing, unreadable, corrupt or has no usable key; `where` is the path."""

    def __init__(self, detail: str, *, where: str = "") -> None:
        self.detail = detail
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{detail}")


class UnknownKeyError(KeyStoreError):
    """A key id is not in the key store (e.g. a sealed value names a key that was never loaded)."""


class SealError(CryptoError):
    """Sealing or opening a field failed.

    On open, the message is deliberately the same for every cause (wrong key, tampered
    ciphertext, value moved to another record or field), so it is no decryption oracle.
    """


class DecryptionError(CryptoError):
    """Authenticated decryption (SM4-GCM tag, or HMAC-SM3 of encrypt-then-MAC) failed. Opaque on purpose."""

    def __init__(self) -> None:
        super().__init__("authenticated decryption failed")
