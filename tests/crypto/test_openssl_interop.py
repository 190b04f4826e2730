"""Interoperability with the system OpenSSL 3 CLI: signatures both ways, keys both ways, SM4-CBC.

Skipped with a reason when `openssl` is absent or lacks SM2/SM4.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from crypto.primitives import sm4
from crypto.primitives.sm2_keys import ScryptParams
from crypto.recipes import (
    SealingKey,
    SigningKey,
    open_field,
    public_key_id,
    seal_field,
    sm3_hex,
    verify_signature,
)

OPENSSL = shutil.which("openssl")
DISTID = "distid:1234567812345678"
FAST = ScryptParams(n=1 << 10)


def _openssl(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )


def _has_sm2() -> bool:
    if OPENSSL is None:
        return False
    probe = subprocess.run(
        [OPENSSL, "genpkey", "-algorithm", "SM2"], capture_output=True, timeout=60, check=False
    )
    ciphers = subprocess.run([OPENSSL, "enc", "-list"], capture_output=True, timeout=60, check=False)
    return probe.returncode == 0 and b"sm4-cbc" in ciphers.stdout


pytestmark = pytest.mark.skipif(
    not _has_sm2(), reason="system openssl missing or without SM2/SM4-CBC support"
)


@pytest.fixture
def openssl_key(tmp_path: Path) -> Path:
    result = _openssl("genpkey", "-algorithm", "SM2", "-out", "key.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "key.pem"


def test_datasoc_signature_verifies_with_openssl(tmp_path: Path) -> None:
    key = SigningKey.generate()
    message = b'{"origin":"datasoc","size":1000,"root":"sm3:00"}'
    (tmp_path / "pub.pem").write_bytes(key.public_key_pem())
    (tmp_path / "msg.bin").write_bytes(message)
    (tmp_path / "sig.der").write_bytes(key.sign(message))
    verify = ["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3"]
    ok = _openssl(*verify, "-pkeyopt", DISTID, "-in", "msg.bin", "-sigfile", "sig.der", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert b"Signature Verified Successfully" in ok.stdout
    # Without the distid OpenSSL uses an empty user id: the same signature must then fail.
    trap = _openssl(*verify, "-in", "msg.bin", "-sigfile", "sig.der", cwd=tmp_path)
    assert trap.returncode != 0
    (tmp_path / "msg.bin").write_bytes(message + b" ")
    tampered = _openssl(*verify, "-pkeyopt", DISTID, "-in", "msg.bin", "-sigfile", "sig.der", cwd=tmp_path)
    assert tampered.returncode != 0


def test_openssl_signature_verifies_in_datasoc(tmp_path: Path, openssl_key: Path) -> None:
    message = b"signed by the openssl CLI"
    (tmp_path / "msg.bin").write_bytes(message)
    sign = [
        "pkeyutl",
        "-sign",
        "-inkey",
        "key.pem",
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        DISTID,
        "-in",
        "msg.bin",
    ]
    signature = _openssl(*sign, cwd=tmp_path).stdout
    pub = _openssl("pkey", "-in", "key.pem", "-pubout", cwd=tmp_path).stdout
    assert verify_signature(pub, message, signature)
    assert not verify_signature(pub, message + b"!", signature)


def test_openssl_generated_keys_load_and_match(tmp_path: Path, openssl_key: Path) -> None:
    pub = _openssl("pkey", "-in", "key.pem", "-pubout", cwd=tmp_path).stdout
    loaded = SigningKey.from_pem(openssl_key.read_bytes(), None)
    assert loaded.public_key_pem() == pub
    assert loaded.key_id == public_key_id(pub)
    # The same key re-encrypted by openssl (PBKDF2-HMAC-SHA256 + SM4-CBC, and scrypt) loads too.
    for extra in (
        ["-v2", "sm4-cbc", "-v2prf", "hmacWithSHA256"],
        ["-v2", "aes-256-cbc"],
        ["-scrypt", "-v2", "sm4-cbc"],
    ):
        enc = _openssl("pkcs8", "-topk8", "-in", "key.pem", *extra, "-passout", "pass:pw", cwd=tmp_path)
        assert enc.returncode == 0, enc.stderr
        assert SigningKey.from_pem(enc.stdout, b"pw").public_key_pem() == pub
    # SEC1 form, which OpenSSL 3.0 labels "SM2 PRIVATE KEY".
    sec1 = _openssl("ec", "-in", "key.pem", cwd=tmp_path)
    assert sec1.returncode == 0, sec1.stderr
    assert SigningKey.from_pem(sec1.stdout, None).public_key_pem() == pub


def test_datasoc_encrypted_key_loads_in_openssl_and_signs(tmp_path: Path) -> None:
    key = SigningKey.generate()
    (tmp_path / "enc.pem").write_bytes(key.private_key_pem(b"s3cret", params=FAST))
    pub = _openssl("pkey", "-in", "enc.pem", "-passin", "pass:s3cret", "-pubout", cwd=tmp_path)
    assert pub.returncode == 0, pub.stderr
    assert pub.stdout == key.public_key_pem()
    (tmp_path / "msg.bin").write_bytes(b"m")
    sig = _openssl(
        "pkeyutl",
        "-sign",
        "-inkey",
        "enc.pem",
        "-passin",
        "pass:s3cret",
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        DISTID,
        "-in",
        "msg.bin",
        cwd=tmp_path,
    )
    assert sig.returncode == 0, sig.stderr
    assert key.verifying_key().verify(b"m", sig.stdout)
    wrong = _openssl("pkey", "-in", "enc.pem", "-passin", "pass:wrong", cwd=tmp_path)
    assert wrong.returncode != 0


def test_sm4_cbc_decrypts_with_openssl_enc(tmp_path: Path) -> None:
    key, iv = bytes.fromhex("0123456789abcdeffedcba9876543210"), bytes(range(16))
    for plaintext in (b"", b"x", b"sixteen bytes!!!", "居民身份证号 110101199003071234".encode()):
        (tmp_path / "ct.bin").write_bytes(sm4.cbc_encrypt(key, iv, plaintext))
        out = _openssl(
            "enc", "-d", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), "-in", "ct.bin", cwd=tmp_path
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == plaintext


def test_sealed_cbc_field_decrypts_with_openssl_after_mac_check(tmp_path: Path) -> None:
    key = SealingKey("seal:k", bytes(range(32)))
    sealed = seal_field(key, "rec-9", "user.id_number", b"110101199003071234", alg="sm4-cbc-hmac-sm3")
    assert open_field(key, "rec-9", "user.id_number", sealed) == b"110101199003071234"
    enc_hex, _mac_hex = key.cbc_keys_hex()
    (tmp_path / "ct.bin").write_bytes(sealed.ct)
    out = _openssl(
        "enc", "-d", "-sm4-cbc", "-K", enc_hex, "-iv", sealed.iv.hex(), "-in", "ct.bin", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"110101199003071234"


def test_openssl_sm4_cbc_output_decrypts_in_datasoc(tmp_path: Path) -> None:
    key, iv = bytes(range(16)), bytes(range(16, 32))
    (tmp_path / "pt.bin").write_bytes(b"from openssl enc")
    out = _openssl("enc", "-e", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), "-in", "pt.bin", cwd=tmp_path)
    assert sm4.cbc_decrypt(key, iv, out.stdout) == b"from openssl enc"


def test_openssl_sm3_matches(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5
    (tmp_path / "d.bin").write_bytes(data)
    out = _openssl("dgst", "-sm3", "-r", "d.bin", cwd=tmp_path).stdout.split()[0].decode()
    assert sm3_hex(data) == "sm3:" + out
