"""The operation log: append-only, and hash-chained per organisation.

Each organisation's entries form one chain (``chain = "org:<id>"``); entries with no
organisation (a failed login for an unknown address, platform operations) form the
``"platform"`` chain. An entry's ``hash`` is an HMAC-SHA256, keyed by
``settings.AUDIT_CHAIN_KEY``, over its own fields and the previous entry's hash, so an
altered, inserted or removed entry breaks the chain, and someone with write access to
the database alone cannot re-forge it. The database refuses UPDATE and DELETE on these
tables (triggers in migration 0002); the model refuses them too.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove an audit entry."""


class AuditEntryQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)

    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit entries are append-only.")


class AuditEntry(models.Model):
    chain = models.CharField(max_length=40, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(_("actor"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=300, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")


class AuditChainHead(models.Model):
    """The last sequence number and hash of each chain.

    Locked (``SELECT ... FOR UPDATE``) while an entry is appended, so concurrent writers
    extend the chain one at a time; also lets the verifier notice a removed last entry.
    """

    chain = models.CharField(max_length=40, unique=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"{self.chain}@{self.seq}"


# --- Alerts (security operations; rules in ``audit.alerts``) ---------------------------


class AlertKind(models.TextChoices):
    LARGE_EXPORT = "large_export", _("Large export")
    MASS_DELETION = "mass_deletion", _("Many contacts deleted")
    FAILED_LOGINS_ACCOUNT = "failed_logins_account", _("Repeated failed logins on one account")
    FAILED_LOGINS_ADDRESS = "failed_logins_address", _("Repeated failed logins from one address")
    ADMIN_NEW_ADDRESS = "admin_new_address", _("Admin login from a new address")
    ROLE_RAISED = "role_raised", _("Role raised to admin or approver")
    API_TOKEN_CREATED = "api_token_created", _("API token created")
    OFF_HOURS_APPROVAL = "off_hours_approval", _("Large campaign approved outside business hours")


class AlertSeverity(models.TextChoices):
    INFO = "info", _("Information")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class AlertRule(models.Model):
    """One organisation's alert thresholds. Organisations without a row use the defaults
    (``AlertRule.for_organization`` returns an unsaved one)."""

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.PROTECT, related_name="alert_rule"
    )
    export_rows = models.PositiveIntegerField(
        _("alert on an export of more than (rows)"), default=1000, validators=[MinValueValidator(1)]
    )
    deleted_contacts_per_hour = models.PositiveIntegerField(
        _("alert when more contacts than this are deleted within an hour"),
        default=100,
        validators=[MinValueValidator(1)],
    )
    failed_logins = models.PositiveIntegerField(
        _("alert after this many failed logins (one account or one address)"),
        default=5,
        validators=[MinValueValidator(2)],
    )
    failed_login_window_minutes = models.PositiveIntegerField(
        _("counted over (minutes)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    large_campaign_recipients = models.PositiveIntegerField(
        _("alert on an approval outside business hours of a campaign with more than (recipients)"),
        default=5000,
        validators=[MinValueValidator(1)],
    )
    business_hours_start = models.PositiveSmallIntegerField(
        _("business hours start (hour, organisation's time zone)"),
        default=9,
        validators=[MaxValueValidator(23)],
    )
    business_hours_end = models.PositiveSmallIntegerField(
        _("business hours end (hour)"), default=19, validators=[MaxValueValidator(24)]
    )
    weekends_outside_business_hours = models.BooleanField(
        _("Saturdays and Sundays are outside business hours"), default=True
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(business_hours_start__lt=models.F("business_hours_end")),
                name="alertrule_business_hours_order",
                violation_error_message=_("Business hours must end after they start."),
            )
        ]

    def __str__(self) -> str:
        return f"alert rules of {self.organization_id}"

    @classmethod
    def for_organization(cls, organization) -> AlertRule:
        rule = cls.objects.filter(organization=organization).first()
        return rule if rule is not None else cls(organization=organization)


class AlertQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return self.filter(organization=organization)

    def open(self):
        return self.filter(acknowledged_at=None)


class Alert(models.Model):
    """Something in the audit log an admin should look at. Made once per (entry, kind):
    evaluating an entry again (a redelivered task, the sweep) never duplicates it."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="alerts"
    )
    kind = models.CharField(_("kind"), max_length=40, choices=AlertKind.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=AlertSeverity.choices)
    message = models.CharField(_("message"), max_length=500)
    details = models.JSONField(default=dict, blank=True)
    audit_entry = models.ForeignKey(AuditEntry, on_delete=models.PROTECT, related_name="+")
    # Alerts about one ongoing pattern (failed logins on one account) within its window
    # share a key; only the first is raised.
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["audit_entry", "kind"], name="alert_once_per_entry")
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="alert_org_time"),
            models.Index(fields=["organization", "kind", "dedupe_key"], name="alert_dedupe"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
