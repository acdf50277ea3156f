"""The sandbox's local certificate authority (root CA → intermediate CA → server leaf), with cryptography."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class KeySpec:
    """Which key to generate: ECDSA on a curve (P-256, fast, the default) or RSA of a given size."""

    kind: Literal["ec", "rsa"] = "ec"
    rsa_bits: int = 2048
    curve: type[ec.EllipticCurve] = ec.SECP256R1

    def generate(self) -> PrivateKey:
        if self.kind == "ec":
            return ec.generate_private_key(self.curve())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.rsa_bits)


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(
    common_name: str,
    *,
    issuer: CertifiedKey | None = None,
    ca: bool = False,
    path_length: int | None = None,
    sans: Sequence[str] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    key: KeySpec = KeySpec(),
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> CertifiedKey:
    """Issue a certificate for a fresh key, signed by issuer (self-signed when issuer is None).

    The validity window defaults to one hour ago until ten years (a CA) or ninety days (a leaf) from now;
    SANs that parse as IP addresses become IP entries, the rest DNS names; the hash defaults to SHA-256.
    """
    private_key = key.generate()
    now = datetime.now(UTC)
    start = not_before or now - timedelta(hours=1)
    end = not_after or now + timedelta(days=3650 if ca else 90)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, signing_key = (issuer.certificate.subject, issuer.key) if issuer else (subject, private_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca and isinstance(private_key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in sans]), critical=False
        )
    certificate = builder.sign(signing_key, hash_algorithm or hashes.SHA256())
    return CertifiedKey(certificate=certificate, key=private_key)


@dataclass(frozen=True)
class LocalCA:
    """The sandbox's chain and where its PEM files are: ca.pem (root only), the served chain, the leaf key."""

    root: CertifiedKey
    intermediate: CertifiedKey
    leaf: CertifiedKey
    ca_file: Path
    chain_file: Path
    key_file: Path


def write_private(path: Path, data: bytes) -> None:
    """Write data to path readable by its owner only (mode 0600 from the first byte)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def create_local_ca(directory: Path) -> LocalCA:
    """Make a fresh root → intermediate → leaf (localhost, 127.0.0.1, ::1) and write it under directory.

    directory/ca.pem holds the root alone (what clients trust); directory/tls/server.pem holds the leaf, then
    the intermediate (what servers present); directory/tls/server.key holds the leaf's key (mode 0600).
    """
    root = issue("golive sandbox root CA", ca=True, path_length=1)
    intermediate = issue("golive sandbox intermediate CA", issuer=root, ca=True, path_length=0)
    leaf = issue("localhost", issuer=intermediate, sans=SERVER_NAMES)
    tls_dir = directory / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(root.certificate_pem())
    chain_file = tls_dir / "server.pem"
    chain_file.write_bytes(leaf.certificate_pem() + intermediate.certificate_pem())
    key_file = tls_dir / "server.key"
    write_private(key_file, leaf.key_pem())
    return LocalCA(root, intermediate, leaf, ca_file, chain_file, key_file)
