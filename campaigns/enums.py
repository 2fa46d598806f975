"""States and choices of the campaigns app."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CampaignState(models.TextChoices):
    """Where a campaign is in its life.

    A rejection is not a state of its own: a rejected campaign returns to ``draft`` with
    the approver's comment (``Campaign.rejection_comment``).
    """

    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Awaiting approval")
    HELD = "held", _("Held for re-approval")
    APPROVED = "approved", _("Approved")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    PAUSED = "paused", _("Paused")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


# Content may change (which voids approvals and returns the campaign to draft) only
# before sending starts.
EDITABLE_STATES = frozenset(
    {
        CampaignState.DRAFT,
        CampaignState.SUBMITTED,
        CampaignState.HELD,
        CampaignState.APPROVED,
        CampaignState.SCHEDULED,
    }
)
# Waiting for approvers: the approval page and the queue show these.
AWAITING_APPROVAL_STATES = frozenset({CampaignState.SUBMITTED, CampaignState.HELD})
# Approved and waiting for the dispatcher (undo window, scheduled time).
APPROVED_STATES = frozenset({CampaignState.APPROVED, CampaignState.SCHEDULED})
CANCELLABLE_STATES = frozenset(EDITABLE_STATES | {CampaignState.SENDING, CampaignState.PAUSED})
FINAL_STATES = frozenset({CampaignState.SENT, CampaignState.CANCELLED})


class Charset(models.TextChoices):
    UTF8 = "utf-8", _("UTF-8 (recommended)")
    ISO2022JP = "iso-2022-jp", _("ISO-2022-JP (for old Japanese mail programs)")


class Decision(models.TextChoices):
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class HoldReason(models.TextChoices):
    DRIFT = "drift", _("The recipient count moved too far from the approved count")
    QUOTA = "quota", _("The organisation's monthly sending limit would be exceeded")


class NotificationKind(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting your approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    HELD = "held", _("Held for re-approval")
    VOIDED = "voided", _("Approval voided")
    CANCELLED = "cancelled", _("Cancelled")
    PAUSED = "paused", _("Paused by the system")


class Severity(models.TextChoices):
    """Of a pre-send check finding. ``blocking`` stops submission and approval."""

    BLOCKING = "blocking", _("Must fix")
    WARNING = "warning", _("Warning")
    INFO = "info", _("Passed")
