from __future__ import annotations

import pytest

from delivery.tls import server_tls_context
from tests.servers import running_plain_smtp, running_sink


@pytest.fixture
def sink(dev_tls):
    """The project's sink (STARTTLS required), running on a free port: ``(host, port)``."""
    with running_sink(server_tls_context(dev_tls)) as address:
        yield address


@pytest.fixture
def foreign_sink(foreign_tls):
    """A STARTTLS server whose certificate is signed by an untrusted CA."""
    with running_sink(server_tls_context(foreign_tls)) as address:
        yield address


@pytest.fixture
def plain_smtp():
    """An SMTP server without STARTTLS."""
    with running_plain_smtp() as address:
        yield address


@pytest.fixture
def platform_mail(settings, dev_tls):
    """Route the platform's own mail through the real STARTTLS backend (pytest-django
    swaps in the in-memory backend by default) with the development CA trusted."""
    settings.EMAIL_BACKEND = "config.mail.VerifiedStartTLSBackend"
    settings.EMAIL_SSL_CAFILE = str(dev_tls.ca_cert)
    settings.EMAIL_TIMEOUT = 10

    def point_at(address):
        settings.EMAIL_HOST, settings.EMAIL_PORT = address

    return point_at
