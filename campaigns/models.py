"""Campaigns, their approvals, layouts, the organisation's sender profile and in-app
notifications.

Thin on purpose: fields, constraints and small helpers. The rules (who may do what, when
an approval counts, what voids it) live in ``campaigns.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.querysets import TenantQuerySet
from audit.querysets import AuditedQuerySet
from campaigns.enums import (
    AWAITING_APPROVAL_STATES,
    CampaignState,
    Charset,
    Decision,
    HoldReason,
    NotificationKind,
)


class SenderProfile(models.Model):
    """What the organisation sets once for every campaign: the legally required footer
    (特定電子メール法: sender, postal address, contact for complaints), who may receive
    test sends, and the safety margins of the approval workflow."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.PROTECT, related_name="sender_profile"
    )
    sender_name = models.CharField(
        _("sender name"),
        max_length=200,
        blank=True,
        help_text=_("The name of the business sending the mail, as the footer shows it."),
    )
    postal_address = models.TextField(
        _("postal address"), blank=True, help_text=_("The sender's postal address.")
    )
    complaints_contact = models.CharField(
        _("contact for complaints and questions"),
        max_length=300,
        blank=True,
        help_text=_("An e-mail address, telephone number or web page readers can reach."),
    )
    footer_language = models.CharField(
        _("footer language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default="ja",
        help_text=_("The language of the standard footer's wording."),
    )
    test_addresses = models.TextField(
        _("test addresses"),
        blank=True,
        help_text=_(
            "One e-mail address per line. Test sends go only to these and to members of "
            "the organisation."
        ),
    )
    drift_threshold_percent = models.PositiveSmallIntegerField(
        _("recipient drift threshold (%)"),
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_(
            "If the recipient count just before sending differs from the approved count by "
            "more than this, the campaign is held for re-approval."
        ),
    )
    undo_window_minutes = models.PositiveSmallIntegerField(
        _("undo window (minutes)"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text=_("Time between the final approval and the first message, to cancel."),
    )
    spam_score_limit = models.DecimalField(
        _("SpamAssassin score limit"),
        max_digits=4,
        decimal_places=1,
        default=5,
        help_text=_("The pre-send check warns at or above this score."),
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        verbose_name = _("sender profile")

    def __str__(self) -> str:
        return self.sender_name or str(self.organization_id)

    @classmethod
    def for_organization(cls, organization) -> SenderProfile:
        """The organisation's profile, created empty on first use."""
        organization_id = getattr(organization, "pk", organization)
        profile, _created = cls.objects.get_or_create(organization_id=organization_id)
        return profile

    def missing_footer_fields(self) -> list[str]:
        """Verbose names of the footer fields still empty."""
        return [
            str(self._meta.get_field(name).verbose_name)
            for name in ("sender_name", "postal_address", "complaints_contact")
            if not getattr(self, name).strip()
        ]

    def test_address_list(self) -> list[str]:
        return [
            line.strip().lower()
            for line in self.test_addresses.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]


class Layout(models.Model):
    """A reusable wrapper around campaign bodies: ``{{ content }}`` marks where the body
    goes. Personalisation works in layouts as in bodies."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    html = models.TextField(_("HTML"), help_text=_("Must contain {{ content }}."))
    text = models.TextField(
        _("plain text"),
        blank=True,
        help_text=_("Optional; must contain {{ content }} when given."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"), Lower("name"), name="layout_name_ci_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CampaignQuerySet(AuditedQuerySet):
    def awaiting_approval(self):
        return self.filter(state__in=AWAITING_APPROVAL_STATES)


class Campaign(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    # --- what goes out (every field here is in the content fingerprint) ---------------
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    preheader = models.CharField(
        _("preheader"),
        max_length=300,
        blank=True,
        help_text=_("The short line mail programs show after the subject."),
    )
    from_name = models.CharField(_("From name"), max_length=200, blank=True)
    from_address = models.CharField(_("From address"), max_length=254, blank=True)
    reply_to = models.CharField(_("Reply-To"), max_length=254, blank=True)
    html_body = models.TextField(_("HTML body"), blank=True)
    text_body = models.TextField(
        _("plain-text body"),
        blank=True,
        help_text=_("Left empty, it is generated from the HTML for each recipient."),
    )
    layout = models.ForeignKey(
        Layout,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("layout"),
    )
    include_lists = models.ManyToManyField(
        "contacts.ContactList", blank=True, related_name="+", verbose_name=_("send to lists")
    )
    exclude_lists = models.ManyToManyField(
        "contacts.ContactList", blank=True, related_name="+", verbose_name=_("but not to lists")
    )
    include_segments = models.ManyToManyField(
        "segments.Segment", blank=True, related_name="+", verbose_name=_("send to segments")
    )
    exclude_segments = models.ManyToManyField(
        "segments.Segment", blank=True, related_name="+", verbose_name=_("but not to segments")
    )
    send_at = models.DateTimeField(
        _("send at"),
        null=True,
        blank=True,
        help_text=_("Empty: as soon as approved (after the undo window)."),
    )
    charset = models.CharField(
        _("character set"), max_length=20, choices=Charset.choices, default=Charset.UTF8
    )
    # --- workflow ------------------------------------------------------------------
    state = models.CharField(
        _("state"), max_length=20, choices=CampaignState.choices, default=CampaignState.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Whoever last changed what goes out: like the submitter, they may not approve it.
    content_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_fingerprint = models.CharField(max_length=64, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_fingerprint = models.CharField(max_length=64, blank=True)
    approved_count = models.PositiveIntegerField(null=True, blank=True)
    undo_until = models.DateTimeField(null=True, blank=True)
    # What was approved last time (for the approver's diff), as {field: text}.
    approved_snapshot = models.JSONField(default=dict, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    held_reason = models.CharField(max_length=10, choices=HoldReason.choices, blank=True)
    held_remaining = models.PositiveIntegerField(null=True, blank=True)  # quota holds
    held_count = models.PositiveIntegerField(null=True, blank=True)
    held_approved_count = models.PositiveIntegerField(null=True, blank=True)
    rejection_comment = models.TextField(blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cloned_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["organization", "state"], name="campaign_org_state")]

    def __str__(self) -> str:
        return self.name


class ApprovalQuerySet(AuditedQuerySet):
    def current(self):
        """Approvals that still count (not voided by an edit or a hold)."""
        return self.filter(decision=Decision.APPROVED, voided_at__isnull=True)


class Approval(models.Model):
    """One approver's decision on one exact version (``fingerprint``) of a campaign.

    The database itself refuses an approval by the submitter (``approval_not_by_submitter``)
    and a second current approval by the same person of the same version.
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    fingerprint = models.CharField(max_length=64)
    recipient_count = models.PositiveIntegerField(null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    voided_at = models.DateTimeField(null=True, blank=True)

    objects = ApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(approver=models.F("submitted_by")),
                name="approval_not_by_submitter",
            ),
            models.UniqueConstraint(
                fields=["campaign", "approver", "fingerprint"],
                condition=models.Q(decision="approved", voided_at__isnull=True),
                name="approval_once_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.decision} by {self.approver_id}"


# Not audited in bulk: marking one's notifications read is not an operation anyone audits.
class NotificationQuerySet(TenantQuerySet):
    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """A line in a member's in-app list (the same news also goes out by e-mail)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    actor_label = models.CharField(max_length=254, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "organization", "read_at"], name="notif_unread")]

    def __str__(self) -> str:
        return f"{self.kind} {self.campaign_id} -> {self.user_id}"
