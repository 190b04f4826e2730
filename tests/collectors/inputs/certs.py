"""Test certificates made with `cryptography`: a CA, a server certificate for 127.0.0.1, a client."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TestPki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_fingerprint: str


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _issue(
    cn: str, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_START)
        .not_valid_after(_START + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key if not ca else key, hashes.SHA256()), key


def make_pki(directory: Path) -> TestPki:
    """CA, server (127.0.0.1) and client (CN=host-a) certificates under `directory`."""
    ca_cert, ca_key = _issue(
        "datasoc test CA",
        _name("datasoc test CA"),
        ec.generate_private_key(ec.SECP256R1()),
        ca=True,
        server=False,
    )
    ca_path, _ = _write(directory / "ca", ca_cert, ca_key)
    server, server_key = _issue("127.0.0.1", ca_cert.subject, ca_key, ca=False, server=True)
    server_cert, server_key_path = _write(directory / "server", server, server_key)
    client, client_key = _issue("host-a", ca_cert.subject, ca_key, ca=False, server=False)
    client_cert, client_key_path = _write(directory / "client", client, client_key)
    fingerprint = "sha256:" + client.fingerprint(hashes.SHA256()).hex()
    return TestPki(ca_path, server_cert, server_key_path, client_cert, client_key_path, fingerprint)
