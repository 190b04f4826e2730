"""The embedded cluster's REST key store: a fresh self-signed key per start, trusted by itself only.

Flink serves its REST API (job list, cancel, ...) on every MiniCluster, and no setting turns its
cancel endpoint off. With mutual TLS whose only trusted certificate is this key's own, only a
client holding the key file (owner-only, made at each start) is served; nothing of the job needs it.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

#: Cipher suites for the key type made here (Flink's default list holds one RSA suite only).
CIPHER_SUITES = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"


def rest_key_store(directory: Path, *, now: datetime | None = None) -> tuple[Path, str]:
    """Write `rest.p12` (key, certificate valid for a year from `now`) under `directory`, owner-only;
    returns its path and its password (never written anywhere)."""
    moment = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "datasoc-detection-rest")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=5))
        .not_valid_after(moment + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(24)
    data = pkcs12.serialize_key_and_certificates(
        b"rest", key, certificate, None, BestAvailableEncryption(password.encode())
    )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "rest.p12"
    descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    path.with_suffix(".tmp").replace(path)
    return path, password
