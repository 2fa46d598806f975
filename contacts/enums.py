from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ContactStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", _("Subscribed")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    BOUNCED = "bounced", _("Bounced")
    COMPLAINED = "complained", _("Complained")


class ConsentMethod(models.TextChoices):
    """How consent was obtained (特定電子メール法: the sender keeps a record of it)."""

    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    BUSINESS_RELATIONSHIP = "business_relationship", _("Existing business relationship")
    PUBLISHED_ADDRESS = "published_address", _("Published business address")


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes / no")
    CHOICE = "choice", _("Choice")


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    HARD_BOUNCE = "hard_bounce", _("Hard bounce")
    COMPLAINT = "complaint", _("Complaint")
    MANUAL = "manual", _("Manual")


# A contact status that is not "subscribed" always comes with a suppression, so that no
# later door (import, form, API) can quietly resubscribe the address.
STATUS_SUPPRESSION_REASON = {
    ContactStatus.UNSUBSCRIBED: SuppressionReason.UNSUBSCRIBED,
    ContactStatus.BOUNCED: SuppressionReason.HARD_BOUNCE,
    ContactStatus.COMPLAINED: SuppressionReason.COMPLAINT,
}
SUPPRESSION_STATUS = {
    SuppressionReason.UNSUBSCRIBED: ContactStatus.UNSUBSCRIBED,
    SuppressionReason.HARD_BOUNCE: ContactStatus.BOUNCED,
    SuppressionReason.COMPLAINT: ContactStatus.COMPLAINED,
    SuppressionReason.MANUAL: ContactStatus.UNSUBSCRIBED,
}


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded, waiting for the column mapping")
    DRY_RUN_QUEUED = "dry_run_queued", _("Dry run queued")
    DRY_RUN_RUNNING = "dry_run_running", _("Dry run in progress")
    READY = "ready", _("Dry run done, waiting for confirmation")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class ContactEventKind(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    IMPORTED = "imported", _("Imported")
    LIST_ADDED = "list_added", _("Added to list")
    LIST_REMOVED = "list_removed", _("Removed from list")
    LIST_UNSUBSCRIBED = "list_unsubscribed", _("Left list (preference page)")
    SUPPRESSED = "suppressed", _("Suppressed")
    SUPPRESSION_LIFTED = "suppression_lifted", _("Suppression lifted")


class ReportOutcome(models.TextChoices):
    REJECTED = "rejected", _("rejected")
    MERGED = "merged", _("merged")
    WARNING = "warning", _("warning")
