"""Development TLS material: generated once, reused, re-issued only when it must be."""

from __future__ import annotations

import stat

from cryptography import x509

from delivery.tls import ensure_dev_tls


def _san(path) -> tuple[list[str], list[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        san.get_values_for_type(x509.DNSName),
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
    )


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_creates_a_ca_and_a_server_certificate_for_loopback(tmp_path):
    paths = ensure_dev_tls(tmp_path)

    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert _san(paths.server_cert) == (["localhost"], ["127.0.0.1", "::1"])
    assert (_mode(paths.ca_key), _mode(paths.server_key)) == (0o600, 0o600)
    assert (_mode(paths.ca_cert), _mode(paths.server_cert)) == (0o644, 0o644)


def test_it_is_idempotent(tmp_path):
    first = ensure_dev_tls(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.pem")}

    second = ensure_dev_tls(tmp_path)

    assert second == first
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.pem")} == before


def test_a_new_name_reissues_the_server_certificate_under_the_same_ca(tmp_path):
    paths = ensure_dev_tls(tmp_path)
    ca_before = paths.ca_cert.read_bytes()
    server_before = paths.server_cert.read_bytes()

    ensure_dev_tls(tmp_path, extra_names=["MailSink", "10.0.0.7"])

    assert paths.ca_cert.read_bytes() == ca_before
    assert paths.server_cert.read_bytes() != server_before
    assert _san(paths.server_cert) == (["localhost", "mailsink"], ["127.0.0.1", "::1", "10.0.0.7"])
    ca = x509.load_pem_x509_certificate(ca_before)
    x509.load_pem_x509_certificate(paths.server_cert.read_bytes()).verify_directly_issued_by(ca)


def test_a_damaged_server_certificate_is_replaced(tmp_path):
    paths = ensure_dev_tls(tmp_path)
    ca_before = paths.ca_cert.read_bytes()
    paths.server_cert.write_text("not a certificate")

    ensure_dev_tls(tmp_path)

    assert paths.ca_cert.read_bytes() == ca_before
    server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_before))


def test_a_lost_ca_key_makes_a_new_ca_and_reissues_the_certificate(tmp_path):
    paths = ensure_dev_tls(tmp_path)
    ca_before = paths.ca_cert.read_bytes()
    paths.ca_key.unlink()

    ensure_dev_tls(tmp_path)

    assert paths.ca_cert.read_bytes() != ca_before
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    x509.load_pem_x509_certificate(paths.server_cert.read_bytes()).verify_directly_issued_by(ca)
    assert _san(paths.server_cert) == (["localhost"], ["127.0.0.1", "::1"])
