"""Delivery's models: sending domains, relays, deliveries and their events, and the
development sink's received messages.

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

from accounts.querysets import TenantQuerySet
from audit.querysets import AuditedQuerySet
from delivery.crypto import EncryptedTextField
from delivery.enums import DeliveryStatus, DomainStatus, EventKind, RelaySecurity


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


# --- Sending: domains, relays, deliveries, events --------------------------------------


class SendingDomain(models.Model):
    """A domain an organisation sends from, with its DKIM keys.

    Private keys are encrypted at rest (``FIELD_ENCRYPTION_KEY``) and never shown again
    after generation; only the public halves appear in the DNS instructions.
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="sending_domains"
    )
    domain = models.CharField(_("domain"), max_length=253)
    rsa_selector = models.CharField(_("RSA selector"), max_length=63)
    rsa_private_key = EncryptedTextField()
    rsa_public_key = models.TextField()
    ed25519_selector = models.CharField(_("Ed25519 selector"), max_length=63, blank=True)
    ed25519_private_key = EncryptedTextField(blank=True)
    ed25519_public_key = models.TextField(blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=DomainStatus.choices, default=DomainStatus.PENDING
    )
    check_results = models.JSONField(default=list, blank=True)
    last_checked_at = models.DateTimeField(_("last checked"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "domain"], name="sending_domain_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def is_verified(self) -> bool:
        return self.status == DomainStatus.VERIFIED


class SmtpRelay(models.Model):
    """An organisation's own SMTP relay. TLS always; certificates always verified.

    ``ca_bundle`` adds trusted CAs (PEM) for a private relay; there is no way to turn
    verification off. Organisations without a relay use the platform default
    (``DELIVERY_RELAY_*`` settings).
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="smtp_relays"
    )
    name = models.CharField(_("name"), max_length=100)
    host = models.CharField(_("host"), max_length=253)
    port = models.PositiveIntegerField(_("port"), default=587)
    security = models.CharField(
        _("security"), max_length=10, choices=RelaySecurity.choices, default=RelaySecurity.STARTTLS
    )
    username = models.CharField(_("username"), max_length=254, blank=True)
    password = EncryptedTextField(_("password"), blank=True)
    ca_bundle = models.TextField(
        _("extra trusted CA certificates (PEM)"),
        blank=True,
        help_text=_("Only for a private relay whose certificate a public CA did not sign."),
    )
    max_connections = models.PositiveSmallIntegerField(_("connections at most"), default=4)
    rate_per_second = models.PositiveIntegerField(_("messages per second at most"), default=50)
    is_active = models.BooleanField(_("in use"), default=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"


class DeliveryQuerySet(TenantQuerySet):
    """Not audited per row: the engine updates these rows constantly (see audit.apps)."""

    def pending(self):
        return self.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING])


class Delivery(models.Model):
    """One recipient of one campaign, frozen when sending starts.

    Unique per (campaign, address): overlapping lists and segments never send twice.
    ``token`` (128 random bits) names the delivery in its VERP return path, tracking and
    unsubscribe links.
    """

    # Every index is written twice per message (claimed, then sent: the status changes,
    # so PostgreSQL cannot update in place), so there are no redundant ones: the
    # organisation and campaign columns lead the composite indexes below, and the token's
    # uniqueness is a constraint (a unique field would add a pattern index for LIKE).
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    contact = models.ForeignKey(
        "contacts.Contact", null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    address = models.CharField(_("address"), max_length=320)
    token = models.CharField(max_length=32)
    status = models.CharField(
        _("status"), max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # db_default: the set-based freeze (INSERT ... SELECT) writes rows without Django.
    message_id = models.CharField(max_length=255, blank=True, db_default="")
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    smtp_response = models.TextField(blank=True, db_default="")
    error = models.TextField(blank=True, db_default="")
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()
    audit_history = False  # one row per recipient: see audit.apps

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "address"], name="delivery_unique_address_per_campaign"
            ),
            models.UniqueConstraint(fields=["token"], name="delivery_unique_token"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due"),
            models.Index(fields=["organization", "sent_at"], name="delivery_org_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"


class DeliveryEvent(models.Model):
    """Something a recipient's mail system or the recipient did with one delivery."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    url = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # Opens fetched by a scanner or prefetching proxy rather than a person, where
    # that can be told (seconds after sending, known scanner user agents).
    is_machine = models.BooleanField(default=False)
    detail = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()
    audit_history = False

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["delivery", "kind"], name="event_delivery_kind"),
            # Hot prospects reads one organisation's events of the last N days.
            models.Index(fields=["organization", "at"], name="event_org_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delivery_id}"
