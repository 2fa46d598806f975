from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class DomainStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for DNS records")
    VERIFIED = "verified", _("Verified")
    FAILED = "failed", _("Records missing or wrong")


class RelaySecurity(models.TextChoices):
    STARTTLS = "starttls", _("STARTTLS (port 587 or 25)")
    TLS = "tls", _("Implicit TLS (port 465)")


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    # Not the campaign state "Sent" (all sent, 配信完了): one recipient's message that
    # the relay accepted. Also the heading of the progress table's count of them.
    SENT = "sent", pgettext_lazy("delivery status", "Sent")
    FAILED = "failed", _("Failed")
    SUPPRESSED = "suppressed", _("Suppressed")
    # The relay may have accepted the message but we could not record it (crash, lost
    # connection after DATA): shown to the operator, never re-sent automatically.
    UNKNOWN = "unknown", _("Unknown: check before re-sending")
    CANCELLED = "cancelled", _("Cancelled")
    SKIPPED = "skipped", _("Skipped")


PENDING_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


class EventKind(models.TextChoices):
    OPEN = "open", _("Opened")
    CLICK = "click", _("Clicked")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    SOFT_BOUNCE = "soft_bounce", _("Soft bounce")
    COMPLAINT = "complaint", _("Complaint")
