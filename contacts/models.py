"""Contacts, lists, tags, custom fields, the suppression list and import jobs.

Thin on purpose: fields, constraints and querysets. The rules (who may see what, what an
import does, when an address may be written) live in ``contacts.services``,
``contacts.importing`` and ``contacts.exporting``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.querysets import AuditedQuerySet
from contacts.enums import (
    ConsentMethod,
    ContactEventKind,
    ContactStatus,
    FieldType,
    ImportStatus,
    SuppressionReason,
)

# Link and history rows (list memberships, tag links, contact events) are written by the
# million by imports. A foreign-key constraint costs PostgreSQL a trigger and a row lock
# per row and constraint (~4 µs): tens of seconds per million-row import. So their
# foreign keys are Django-level only (``db_constraint=False``): the rows are written only
# by contacts.services / contacts.importing with ids taken from the same transaction, and
# deletes go through the ORM, whose collector applies ``on_delete``. Single-column
# indexes already covered by a composite one are left out for the same reason.
_LINK = {"db_constraint": False, "db_index": False}

# accounts.access asks a restricted list which django-guardian permission stands for an
# organisation permission; these are Django's default model permissions of ContactList.
GRANT_CODENAMES = {
    "contacts.view": "contacts.view_contactlist",
    "contacts.edit": "contacts.change_contactlist",
}


class CustomField(models.Model):
    """An attribute the organisation keeps for each contact (stored in ``Contact.attributes``)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    key = models.SlugField(
        _("key"),
        max_length=50,
        help_text=_("Used in CSV headers and personalisation; cannot change later."),
    )
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=10, choices=FieldType.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["label", "key"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="customfield_key_unique")
        ]

    def __str__(self) -> str:
        return self.label


class Tag(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=100)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tag_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class ContactList(models.Model):
    """A static list. A restricted list is visible/editable only to admins and grantees."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Only admins and people granted access may see or change its contacts."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"), Lower("name"), name="contactlist_name_ci_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def restricts_access(self) -> bool:
        return self.is_restricted

    def grant_codename(self, perm: str) -> str | None:
        return GRANT_CODENAMES.get(perm)


class ContactQuerySet(AuditedQuerySet):
    def subscribed(self):
        return self.filter(status=ContactStatus.SUBSCRIBED)


class Contact(models.Model):
    # Indexed through the (organization, lower(email)) unique index. No database
    # constraint: checking it costs a trigger per row at commit (5+ s per million
    # imported contacts), and organisations are never deleted (PROTECT; they are
    # deactivated). Which organisation a contact belongs to is the services' job either way.
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", **_LINK
    )
    # Normalised by contacts.emails.normalise_email (domain lower-cased, IDNA-encoded).
    email = models.CharField(_("e-mail address"), max_length=320)
    last_name = models.CharField(_("last name"), max_length=200, blank=True)
    first_name = models.CharField(_("first name"), max_length=200, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    attributes = models.JSONField(_("custom fields"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, through="ContactTag", blank=True, related_name="contacts")
    lists = models.ManyToManyField(
        ContactList, through="ListMembership", blank=True, related_name="contacts"
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ContactStatus.choices, default=ContactStatus.SUBSCRIBED
    )
    consent_method = models.CharField(
        _("consent obtained through"), max_length=30, choices=ConsentMethod.choices
    )
    consent_at = models.DateTimeField(_("consent obtained at"), default=timezone.now)
    consent_evidence = models.TextField(
        _("evidence of consent"),
        blank=True,
        help_text=_("The form wording, the import file name, or where the address was published."),
    )
    # The import that created the contact (its history shows it; imports write history
    # rows only for the contacts they change, not the million they create).
    import_job = models.ForeignKey(
        "ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", **_LINK
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = [Lower("email")]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"), Lower("email"), name="contact_email_ci_unique"
            )
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        # Japanese order: family name first.
        return " ".join(part for part in (self.last_name, self.first_name) if part)


class ContactTag(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", **_LINK
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", **_LINK)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="contacttag_unique")]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.tag_id}"


class ListMembershipQuerySet(AuditedQuerySet):
    def subscribed(self):
        """Memberships that count for sending and member counts.

        A person who left a list through the preference page keeps the row, with
        ``unsubscribed_at`` set, so that a re-import or API upsert that names the list
        again finds it and leaves it alone instead of quietly resubscribing them.
        Visibility (restricted lists) still counts every row: leaving a list does not
        make a contact visible to people who may not see that list.
        """
        return self.filter(unsubscribed_at__isnull=True)


class ListMembership(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", **_LINK
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="memberships", db_constraint=False
    )
    contact_list = models.ForeignKey(
        ContactList, on_delete=models.CASCADE, related_name="memberships", **_LINK
    )
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        **_LINK,
    )
    import_job = models.ForeignKey(
        "ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", **_LINK
    )
    # Set when the person left the list from a message's preference page; never cleared
    # by an import or upsert (see ``ListMembershipQuerySet.subscribed``).
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    objects = ListMembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact_list", "contact"], name="listmembership_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.contact_list_id}"

    @property
    def is_subscribed(self) -> bool:
        return self.unsubscribed_at is None


class SuppressionQuerySet(AuditedQuerySet):
    def active(self):
        return self.filter(lifted_at__isnull=True)

    def for_address(self, address: str):
        return self.annotate(address_key=Lower("address")).filter(address_key=address.lower())


class Suppression(models.Model):
    """An address the organisation must not send to. Keyed by address: it outlives the contact.

    Lifting keeps the row (with who, when and why); at most one active row per address.
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    address = models.CharField(_("e-mail address"), max_length=320)
    reason = models.CharField(_("reason"), max_length=20, choices=SuppressionReason.choices)
    source = models.CharField(_("source"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("suppressed at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lift_reason = models.TextField(_("reason for lifting"), blank=True)

    objects = SuppressionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                models.F("organization"),
                Lower("address"),
                condition=models.Q(lifted_at__isnull=True),
                name="suppression_active_address_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.reason})"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class ImportJob(models.Model):
    """One uploaded CSV file and what became of it.

    The file itself is kept in the database (``file_data``) so a worker on another machine
    can read it; the rejected-rows report (``report_data``) is a CSV ready to download.
    """

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    file_data = models.BinaryField()
    encoding = models.CharField(_("encoding"), max_length=40)
    delimiter = models.CharField(_("delimiter"), max_length=1, default=",")
    has_header = models.BooleanField(_("first row is a header"), default=True)
    columns = models.JSONField(default=list)
    mapping = models.JSONField(default=dict)
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_method = models.CharField(
        _("consent obtained through"),
        max_length=30,
        choices=ConsentMethod.choices,
        default=ConsentMethod.IMPORT,
    )
    language = models.CharField(max_length=10, default="en")
    status = models.CharField(
        _("status"), max_length=20, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    dry_run_counts = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    report_data = models.BinaryField(default=b"")
    report_is_dry_run = models.BooleanField(default=False)
    report_sample = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file_name

    @property
    def is_in_progress(self) -> bool:
        return self.status in {
            ImportStatus.DRY_RUN_QUEUED,
            ImportStatus.DRY_RUN_RUNNING,
            ImportStatus.QUEUED,
            ImportStatus.RUNNING,
        }


class ContactEvent(models.Model):
    """One line of a contact's history (the contact page shows them with its audit entries)."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", **_LINK
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events", **_LINK)
    kind = models.CharField(max_length=30, choices=ContactEventKind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        **_LINK,
    )
    actor_label = models.CharField(max_length=254, blank=True)
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", **_LINK
    )
    details = models.JSONField(default=dict, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-created_at"], name="contactevent_contact_time")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.kind}"
