"""A throw-away X.509 PKI for the local stack and the tests: one CA, server and device certificates.

AWS IoT Core authenticates each device with its own X.509 certificate over mutual TLS; the local
broker does the same with certificates made here, so the device code path is identical. Keys are
EC P-256 (small, fast to generate, accepted by mosquitto, paho and IoT Core). Private keys are
written with mode 0600 and never leave the directory they are issued into.

It sits below both `humwatch.local` (the broker's CA and server certificate) and `humwatch.ops`
(`provision-device --local` signs the device certificate with the local CA), so neither of those
packages needs to import the other.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)
# Backdate so a device whose clock is a little behind still accepts a freshly issued certificate.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class CA:
    """A certificate authority on disk plus its loaded certificate and key (for signing)."""

    cert_path: Path
    key_path: Path
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with 0600 from the start: never a moment where the key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _safe_file_stem(name: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    if not stem:
        raise ValueError(f"cannot derive a file name from {name!r}")
    return stem


def make_ca(directory: str | os.PathLike[str], *, common_name: str = "humwatch-local-ca") -> CA:
    """Create a self-signed CA in `directory` (`ca.crt`, `ca.key`)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = out / "ca.crt", out / "ca.key"
    _write_key(key, key_path)
    _write_cert(cert, cert_path)
    return CA(cert_path=cert_path, key_path=key_path, certificate=cert, private_key=key)


def load_ca(directory: str | os.PathLike[str]) -> CA:
    """Load a CA made earlier by `make_ca` (so a local stack can reuse its certificates)."""
    out = Path(directory)
    cert = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((out / "ca.key").read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{out / 'ca.key'} is not an EC private key")
    return CA(cert_path=out / "ca.crt", key_path=out / "ca.key", certificate=cert, private_key=key)


def _issue(
    ca: CA,
    common_name: str,
    directory: Path,
    *,
    usage: x509.ObjectIdentifier,
    hosts: Sequence[str] = (),
    file_stem: str | None = None,
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.private_key, hashes.SHA256())
    stem = _safe_file_stem(file_stem or common_name)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    _write_key(key, key_path)
    _write_cert(cert, cert_path)
    return cert_path, key_path


def issue_cert(ca: CA, common_name: str, directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Issue a client certificate (a device; CN = thing name) -> (`{cn}.crt`, `{cn}.key`)."""
    return _issue(ca, common_name, Path(directory), usage=ExtendedKeyUsageOID.CLIENT_AUTH)


def issue_server_cert(
    ca: CA,
    directory: str | os.PathLike[str],
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
) -> tuple[Path, Path]:
    """Issue a TLS server certificate for the broker, valid for `hosts` (IPs and DNS names)."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name or IP address")
    return _issue(
        ca,
        hosts[0],
        Path(directory),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        hosts=hosts,
        file_stem="server",
    )
