"""The platform's own outgoing mail (invitations, alerts): STARTTLS, verified, always.

Django's SMTP backend builds a bare ``SSLContext`` that loads no CA bundle, so a private
relay (or the bundled development sink with its own CA) cannot be verified with it. This
backend uses a default context (certificate and host name verified) plus the configured
CA file. ``smtplib.starttls`` raises when the server does not offer STARTTLS, so there is
no plain-text fallback.
"""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend


def verified_tls_context(cafile: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cafile and Path(cafile).exists():
        context.load_verify_locations(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class VerifiedStartTLSBackend(EmailBackend):
    def __init__(self, *args, **kwargs):
        kwargs["use_tls"] = True
        kwargs["use_ssl"] = False
        super().__init__(*args, **kwargs)

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        return verified_tls_context(settings.EMAIL_SSL_CAFILE)
