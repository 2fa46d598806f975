"""Delivery's models.

``SinkMessage`` is platform-level (not tenant-owned): it is what the bundled development
SMTP sink received, shown only to platform operators. It is never a real recipient's
mail store, so it carries no ``organization``.
"""

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesHeaderParser

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _decode_header(message: EmailMessage, name: str, raw_value: str) -> str:
    """One header value decoded for display; never raises, whatever arrived.

    ``email.policy.default`` decodes RFC 2047 words (Japanese subjects arrive that way)
    but can raise on a header it cannot parse; then the encoded words are decoded
    leniently, and failing that the value is shown as it was sent.
    """
    try:
        return str(message.policy.header_fetch_parse(name, raw_value))
    except Exception:  # any parse failure: try the lenient decoder below
        try:
            return str(make_header(decode_header(str(raw_value))))
        except Exception:  # undecodable encoded word: show it as sent
            return str(raw_value)


def _header_text(message: EmailMessage, name: str) -> str:
    """Every ``name`` header decoded and joined ('' if absent)."""
    wanted = name.lower()
    values = [
        _decode_header(message, key, value)
        for key, value in message.raw_items()
        if key.lower() == wanted
    ]
    return ", ".join(values)


class SinkMessage(models.Model):
    """One message the development SMTP sink accepted, stored byte for byte."""

    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    mail_from = models.CharField(_("envelope sender"), max_length=998, blank=True)
    rcpt_tos = models.JSONField(_("envelope recipients"), default=list)
    # The DATA exactly as received (after SMTP dot-unstuffing), so DKIM signatures and
    # encodings can be checked against what really went over the wire.
    raw = models.BinaryField(_("raw message"))
    peer = models.CharField(_("client address"), max_length=100, blank=True)
    tls = models.BooleanField(_("received over TLS"), default=False)
    tls_version = models.CharField(_("TLS version"), max_length=20, blank=True)
    tls_cipher = models.CharField(_("TLS cipher"), max_length=100, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("sink message")
        verbose_name_plural = _("sink messages")

    def __str__(self) -> str:
        return f"{self.mail_from or '<>'} -> {', '.join(self.rcpt_tos)}"

    @property
    def raw_bytes(self) -> bytes:
        # PostgreSQL hands BinaryField back as a memoryview, SQLite as bytes.
        return bytes(self.raw)

    def parsed(self) -> EmailMessage:
        """The message parsed with the stdlib ``email`` package (``policy.default``)."""
        return email.message_from_bytes(self.raw_bytes, policy=email.policy.default)

    def header(self, name: str) -> str:
        return _header_text(self.parsed(), name)

    def summary(self) -> dict[str, str]:
        """Subject, From and To decoded for display; malformed headers never raise.

        Parses the header block only: list pages should not decode attachments.
        """
        message = BytesHeaderParser(policy=email.policy.default).parsebytes(self.raw_bytes)
        return {
            "subject": _header_text(message, "Subject"),
            "from": _header_text(message, "From"),
            "to": _header_text(message, "To"),
        }

    def headers(self) -> list[tuple[str, str]]:
        """Every header in order, decoded for display."""
        message = self.parsed()
        return [(name, _decode_header(message, name, value)) for name, value in message.raw_items()]

    def text_body(self) -> str:
        """The first text/plain part, decoded ('' if there is none or it cannot be read)."""
        message = self.parsed()
        try:
            part = message.get_body(preferencelist=("plain",))
            return "" if part is None else part.get_content()
        except Exception:  # a broken MIME structure is still shown as raw source
            return ""

    def raw_text(self) -> str:
        """The raw source as text; bytes that are not UTF-8 become U+FFFD."""
        return self.raw_bytes.decode("utf-8", errors="replace")
