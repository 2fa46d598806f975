"""TLS material for the bundled development SMTP sink.

``ensure_dev_tls()`` keeps, under ``settings.TLS_DIR`` (``var/tls``), a small development
certificate authority (``ca.pem``, ``ca-key.pem``) and a server certificate signed by it
(``sink.pem``, ``sink-key.pem``) for 127.0.0.1, ::1 and localhost (plus any extra names,
e.g. the sink's service name in docker-compose). The platform's own mail backend trusts
``ca.pem`` (``settings.EMAIL_SSL_CAFILE``), so the sink is reached with full certificate
and host-name verification, exactly as a production relay is: there is no "skip verify"
mode anywhere to forget switched on.

The material is generated once and reused; the server certificate is re-issued when it
is missing, about to expire, lacks a requested name or no longer matches the CA. A file
lock serialises the processes that may call this at the same moment (``make run``'s
supervisor and the sink it starts). Nothing here is meant for production relays.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
import ssl
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "sink.pem"
SERVER_KEY = "sink-key.pem"

DEFAULT_DNS_NAMES = ("localhost",)
DEFAULT_IP_ADDRESSES = ("127.0.0.1", "::1")

_CA_LIFETIME = datetime.timedelta(days=3650)
# Below the 398 days browsers and strict TLS stacks accept for a leaf certificate.
_SERVER_LIFETIME = datetime.timedelta(days=397)
# Re-issue this long before expiry, so a running sink never presents an expired one.
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class DevTLS:
    """Paths of the development CA and the sink's certificate and key."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.directory / CA_KEY

    @property
    def server_cert(self) -> Path:
        return self.directory / SERVER_CERT

    @property
    def server_key(self) -> Path:
        return self.directory / SERVER_KEY


def ensure_dev_tls(directory: Path | str | None = None, extra_names: Iterable[str] = ()) -> DevTLS:
    """Make sure the development CA and the sink's certificate exist and are usable.

    ``directory`` defaults to ``settings.TLS_DIR``. ``extra_names`` are host names or IP
    addresses the server certificate must also cover. Idempotent: existing, valid
    material is left untouched (so a CA someone already trusts keeps working).
    """
    if directory is None:
        from django.conf import settings

        directory = settings.TLS_DIR
    paths = DevTLS(Path(directory))
    paths.directory.mkdir(parents=True, exist_ok=True)
    dns_names, ip_addresses = _split_names(
        [*DEFAULT_DNS_NAMES, *DEFAULT_IP_ADDRESSES, *extra_names]
    )
    with _locked(paths.directory / ".lock"):
        ca_cert, ca_key = _load_or_create_ca(paths)
        if not _server_cert_is_current(paths, ca_cert, dns_names, ip_addresses):
            _issue_server_cert(paths, ca_cert, ca_key, dns_names, ip_addresses)
    return paths


def server_tls_context(paths: DevTLS) -> ssl.SSLContext:
    """A server-side context presenting the sink's certificate (TLS 1.2 or newer)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # Under the lock: never pair a new key with the old certificate mid-renewal.
    with _locked(paths.directory / ".lock"):
        context.load_cert_chain(certfile=paths.server_cert, keyfile=paths.server_key)
    return context


# --- internals -----------------------------------------------------------------------


@contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _split_names(names: Iterable[str]) -> tuple[list[str], list[str]]:
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            address = str(ipaddress.ip_address(name))
        except ValueError:
            if name.lower() not in dns_names:
                dns_names.append(name.lower())
        else:
            if address not in ip_addresses:
                ip_addresses.append(address)
    return dns_names, ip_addresses


def _write_atomically(path: Path, data: bytes, *, private: bool) -> None:
    # Written beside the target and renamed, so a reader never sees half a PEM file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(tmp, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: small, fast to generate, and accepted by every TLS stack we talk to.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_or_create_ca(paths: DevTLS) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if paths.ca_cert.exists() and paths.ca_key.exists():
        try:
            cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
            key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        except ValueError:
            cert = key = None  # unreadable: make a new CA below
        if (
            cert is not None
            and isinstance(key, ec.EllipticCurvePrivateKey)
            and cert.public_key() == key.public_key()
            and cert.not_valid_after_utc - _now() > _RENEW_BEFORE
        ):
            return cert, key
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tayori development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tayori development CA"),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write_atomically(paths.ca_key, _key_pem(key), private=True)
    _write_atomically(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    # A new CA invalidates the old server certificate.
    paths.server_cert.unlink(missing_ok=True)
    return cert, key


def _server_cert_is_current(
    paths: DevTLS, ca_cert: x509.Certificate, dns_names: list[str], ip_addresses: list[str]
) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.server_key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if cert.public_key() != key.public_key():
        return False
    if cert.not_valid_after_utc - _now() < _RENEW_BEFORE:
        return False
    present_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    present_ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(dns_names) <= present_dns and set(ip_addresses) <= present_ips


def _issue_server_cert(
    paths: DevTLS,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    dns_names: list[str],
    ip_addresses: list[str],
) -> None:
    key = _new_key()
    now = _now()
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    common_name = dns_names[0] if dns_names else ip_addresses[0]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tayori development"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + _SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_atomically(paths.server_key, _key_pem(key), private=True)
    _write_atomically(
        paths.server_cert, cert.public_bytes(serialization.Encoding.PEM), private=False
    )
