"""SM2 key encodings: SPKI and PKCS#8 PEM (plain and PBES2-encrypted), SEC1 for reading.

LOW-LEVEL: callers use `crypto.recipes.SigningKey.from_pem` / `.private_key_pem` / `.public_key_pem`.

Byte layouts follow what OpenSSL 3 writes for `openssl genpkey -algorithm SM2`, so keys move freely
between datasoc and the `openssl` CLI:
- SPKI (RFC 5280 §4.1.2.7, RFC 5480 §2): AlgorithmIdentifier {id-ecPublicKey, sm2 curve OID},
  BIT STRING 04 || x || y.
- PKCS#8 (RFC 5958 §2) wrapping SEC1 ECPrivateKey (RFC 5915 §3) {1, d, [1] public key}.
- Encrypted PKCS#8 (RFC 5958 §3) with PBES2 (RFC 8018 §6.2). Written with scrypt (RFC 7914 §7) and
  SM4-CBC, which `openssl pkey -in k.pem -passin ...` reads; read also with PBKDF2 (HMAC-SHA1/256/512)
  and SM4-CBC or AES-CBC, so keys re-encrypted by `openssl pkcs8 -topk8 -v2 ...` load too.
  PBKDF2-HMAC-SM3 is not written: OpenSSL 3.0 does not know an hmacWithSM3 PRF.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto.errors import KeyFormatError, WrongPassphraseError
from crypto.primitives import der, sm2

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SM2_CURVE = "1.2.156.10197.1.301"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_SCRYPT = "1.3.6.1.4.1.11591.4.11"
OID_SM4_CBC = "1.2.156.10197.1.104.2"

# PBKDF2 PRFs we accept when reading (RFC 8018 Appendix B.1).
_PBKDF2_PRFS: dict[str, type[hashes.HashAlgorithm]] = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.11": hashes.SHA512,
}
# Block ciphers we accept when reading, with their key sizes (all CBC with a 16-byte IV).
_CBC_CIPHERS: dict[str, tuple[type[algorithms.SM4] | type[algorithms.AES], int]] = {
    OID_SM4_CBC: (algorithms.SM4, 16),
    "2.16.840.1.101.3.4.1.2": (algorithms.AES, 16),
    "2.16.840.1.101.3.4.1.42": (algorithms.AES, 32),
}


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost (RFC 7914). The default matches `openssl pkcs8 -scrypt` and stays under its 32 MiB cap."""

    n: int = 1 << 14
    r: int = 8
    p: int = 1

    MAX_MEMORY = 1 << 28
    """Refuse parameters needing more than 256 MiB (128·r·n bytes): a key file must not exhaust memory."""

    def __post_init__(self) -> None:
        n, r, p = self.n, self.r, self.p
        if not (isinstance(n, int) and isinstance(r, int) and isinstance(p, int)):
            raise KeyFormatError("scrypt parameters must be integers")
        if n < 2 or n & (n - 1) or r < 1 or not 1 <= p <= 16 or 128 * r * n > self.MAX_MEMORY:
            raise KeyFormatError(f"scrypt parameters out of range (n={n}, r={r}, p={p})")


_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)


def pem_encode(label: str, body: bytes) -> bytes:
    """PEM per RFC 7468 §2 (64-column base64)."""
    b64 = base64.b64encode(body)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return b"".join([f"-----BEGIN {label}-----\n".encode(), *(x + b"\n" for x in lines)]) + (
        f"-----END {label}-----\n".encode()
    )


def pem_decode(pem: bytes, where: str) -> tuple[str, bytes]:
    """Return `(label, der)` of the first PEM block in `pem`."""
    if not isinstance(pem, bytes | bytearray):
        raise KeyFormatError("expected PEM bytes", where=where)
    match = _PEM_RE.search(bytes(pem))
    if match is None:
        raise KeyFormatError("no PEM block found", where=where)
    try:
        body = base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("PEM body is not valid base64", where=where) from None
    return match.group(1).decode("ascii"), body


def _algorithm_identifier() -> bytes:
    return der.seq(der.oid(OID_EC_PUBLIC_KEY), der.oid(OID_SM2_CURVE))


def _check_algorithm(element: der.Element, where: str) -> None:
    items = element.children(f"{where}: AlgorithmIdentifier")
    if len(items) != 2 or items[0].as_oid(where) != OID_EC_PUBLIC_KEY:
        raise KeyFormatError("not an EC key", where=where)
    if items[1].tag != der.OID or items[1].as_oid(where) != OID_SM2_CURVE:
        raise KeyFormatError("EC key is not on the SM2 curve (OID 1.2.156.10197.1.301)", where=where)


def spki_der(public: bytes) -> bytes:
    """SubjectPublicKeyInfo DER of a 64-byte public point."""
    return der.seq(_algorithm_identifier(), der.bit_string(b"\x04" + public))


def public_pem(public: bytes) -> bytes:
    """SPKI PEM (`-----BEGIN PUBLIC KEY-----`) of a 64-byte public point."""
    return pem_encode("PUBLIC KEY", spki_der(public))


def load_public_der(data: bytes, where: str = "public key") -> bytes:
    """Parse SPKI DER; return the 64-byte point, checked to be on the curve."""
    try:
        items = der.decode(data, where).children(where)
        if len(items) != 2:
            raise KeyFormatError("SubjectPublicKeyInfo must have two fields", where=where)
        _check_algorithm(items[0], where)
        point = items[1].as_bits(where)
    except KeyFormatError:
        raise
    except (der.DERError, ValueError) as exc:
        raise KeyFormatError(f"malformed DER ({exc})", where=where) from None
    if len(point) != 65 or point[0] != 4 or not sm2.is_on_curve(point[1:]):
        raise KeyFormatError("public key is not an uncompressed point on the SM2 curve", where=where)
    return point[1:]


def load_public_pem(pem: bytes, where: str = "public key") -> bytes:
    """Parse SPKI PEM; return the 64-byte point."""
    label, body = pem_decode(pem, where)
    if label != "PUBLIC KEY":
        raise KeyFormatError(f"expected a PUBLIC KEY PEM block, found {label!r}", where=where)
    return load_public_der(body, where)


def _ec_private_key(private: bytes, public: bytes) -> bytes:
    return der.seq(
        der.integer(1), der.octet_string(private), der.tlv(der.CONTEXT_1, der.bit_string(b"\x04" + public))
    )


def pkcs8_der(private: bytes, public: bytes) -> bytes:
    """Unencrypted PKCS#8 PrivateKeyInfo DER."""
    return der.seq(
        der.integer(0), _algorithm_identifier(), der.octet_string(_ec_private_key(private, public))
    )


def _parse_ec_private_key(data: bytes, where: str, *, expect_curve: bool) -> tuple[bytes, bytes]:
    items = der.decode(data, where).children(where)
    if len(items) < 2 or items[0].as_int(where) != 1:
        raise KeyFormatError("ECPrivateKey version must be 1", where=where)
    raw = items[1].as_octets(where)
    private = raw.rjust(32, b"\x00") if len(raw) <= 32 else raw
    stored_public: bytes | None = None
    for item in items[2:]:
        if item.tag == der.CONTEXT_0 and expect_curve:
            params = item.children(where)
            if len(params) != 1 or params[0].as_oid(where) != OID_SM2_CURVE:
                raise KeyFormatError("EC key is not on the SM2 curve", where=where)
        elif item.tag == der.CONTEXT_1:
            (bits,) = item.children(where)
            point = bits.as_bits(where)
            if len(point) != 65 or point[0] != 4:
                raise KeyFormatError("stored public key is not an uncompressed point", where=where)
            stored_public = point[1:]
    if not sm2.is_valid_private(private):
        raise KeyFormatError("private scalar out of range for SM2", where=where)
    public = sm2.public_from_private(private)
    if stored_public is not None and stored_public != public:
        raise KeyFormatError("stored public key does not belong to the private key", where=where)
    return private, public


def load_pkcs8_der(data: bytes, where: str = "private key") -> tuple[bytes, bytes]:
    """Parse unencrypted PKCS#8 DER; return `(private, public)`."""
    try:
        items = der.decode(data, where).children(where)
        if len(items) < 3 or items[0].as_int(where) not in (0, 1):
            raise KeyFormatError("not a PKCS#8 PrivateKeyInfo", where=where)
        _check_algorithm(items[1], where)
        return _parse_ec_private_key(items[2].as_octets(where), where, expect_curve=False)
    except KeyFormatError:
        raise
    except (der.DERError, ValueError) as exc:
        raise KeyFormatError(f"malformed private key DER ({exc})", where=where) from None


def encrypted_pkcs8_pem(
    private: bytes, public: bytes, passphrase: bytes, *, salt: bytes, iv: bytes, params: ScryptParams
) -> bytes:
    """`ENCRYPTED PRIVATE KEY` PEM: PBES2 with scrypt and SM4-CBC (PKCS#7 padding)."""
    if len(salt) < 16 or len(iv) != 16:
        raise KeyFormatError("salt must be >= 16 bytes and iv exactly 16 bytes")
    key = Scrypt(salt=salt, length=16, n=params.n, r=params.r, p=params.p).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(pkcs8_der(private, public)) + padder.finalize()
    enc = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    kdf = der.seq(
        der.oid(OID_SCRYPT),
        der.seq(
            der.octet_string(salt),
            der.integer(params.n),
            der.integer(params.r),
            der.integer(params.p),
            der.integer(16),
        ),
    )
    scheme = der.seq(der.oid(OID_PBES2), der.seq(kdf, der.seq(der.oid(OID_SM4_CBC), der.octet_string(iv))))
    return pem_encode("ENCRYPTED PRIVATE KEY", der.seq(scheme, der.octet_string(ciphertext)))


def _derive_pbes2_key(kdf: der.Element, key_size: int, passphrase: bytes, where: str) -> bytes:
    kdf_oid, kdf_params = kdf.children(where)
    fields = kdf_params.children(where)
    name = kdf_oid.as_oid(where)
    if name == OID_SCRYPT:
        salt = fields[0].as_octets(where)
        n, r, p = (f.as_int(where) for f in fields[1:4])
        params = ScryptParams(n=n, r=r, p=p)  # validates the ranges before any memory is spent
        return Scrypt(salt=salt, length=key_size, n=params.n, r=params.r, p=params.p).derive(passphrase)
    if name == OID_PBKDF2:
        salt = fields[0].as_octets(where)
        iterations = fields[1].as_int(where)
        prf: type[hashes.HashAlgorithm] = hashes.SHA1  # RFC 8018 default PRF
        for extra in fields[2:]:
            if extra.tag == der.SEQUENCE:
                prf_oid = extra.children(where)[0].as_oid(where)
                if prf_oid not in _PBKDF2_PRFS:
                    raise KeyFormatError(f"unsupported PBKDF2 PRF {prf_oid}", where=where)
                prf = _PBKDF2_PRFS[prf_oid]
        if not 1 <= iterations <= 10_000_000:
            raise KeyFormatError("PBKDF2 iteration count out of range", where=where)
        return PBKDF2HMAC(algorithm=prf(), length=key_size, salt=salt, iterations=iterations).derive(
            passphrase
        )
    raise KeyFormatError(f"unsupported PBES2 key derivation {name}", where=where)


def load_encrypted_pkcs8_der(
    data: bytes, passphrase: bytes, where: str = "private key"
) -> tuple[bytes, bytes]:
    """Decrypt PBES2 `EncryptedPrivateKeyInfo` DER; return `(private, public)`."""
    try:
        scheme, encrypted = der.decode(data, where).children(where)
        scheme_oid, scheme_params = scheme.children(where)
        if scheme_oid.as_oid(where) != OID_PBES2:
            raise KeyFormatError("only PBES2 encrypted keys are supported", where=where)
        kdf, cipher_id = scheme_params.children(where)
        cipher_oid, iv_element = cipher_id.children(where)
        cipher_name = cipher_oid.as_oid(where)
        if cipher_name not in _CBC_CIPHERS:
            raise KeyFormatError(f"unsupported PBES2 cipher {cipher_name}", where=where)
        algorithm, key_size = _CBC_CIPHERS[cipher_name]
        iv = iv_element.as_octets(where)
        ciphertext = encrypted.as_octets(where)
        key = _derive_pbes2_key(kdf, key_size, passphrase, where)
    except (der.DERError, ValueError) as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError("malformed encrypted private key", where=where) from None
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise KeyFormatError("malformed encrypted private key", where=where)
    dec = Cipher(algorithm(key), modes.CBC(iv)).decryptor()
    try:
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(dec.update(ciphertext) + dec.finalize()) + unpadder.finalize()
        return load_pkcs8_der(plain, where)
    except (ValueError, KeyFormatError):
        # Bad padding and garbage DER both mean the key did not decrypt; one message, no oracle.
        raise WrongPassphraseError("wrong passphrase or corrupted encrypted key", where=where) from None


def load_private_pem(pem: bytes, passphrase: bytes | None, where: str = "private key") -> tuple[bytes, bytes]:
    """Load an SM2 private key from PKCS#8 (plain or encrypted) or SEC1 PEM; return `(private, public)`."""
    label, body = pem_decode(pem, where)
    if label == "ENCRYPTED PRIVATE KEY":
        if passphrase is None:
            raise KeyFormatError("key is encrypted; a passphrase is required", where=where)
        return load_encrypted_pkcs8_der(body, passphrase, where)
    if label == "PRIVATE KEY":
        return load_pkcs8_der(body, where)
    # SEC1 ECPrivateKey; OpenSSL 3.0 labels it "SM2 PRIVATE KEY" for SM2 keys (`openssl ec -in k.pem`).
    if label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):
        try:
            return _parse_ec_private_key(body, where, expect_curve=True)
        except KeyFormatError:
            raise
        except (der.DERError, ValueError) as exc:
            raise KeyFormatError(f"malformed private key DER ({exc})", where=where) from None
    raise KeyFormatError(f"unsupported PEM block {label!r}", where=where)
