"""Organisations (the tenants), users, memberships and invitations.

Every tenant-owned row elsewhere carries ``organization`` and is reached through
``TenantQuerySet.for_organization``.
"""

from __future__ import annotations

import ipaddress
import secrets
import zoneinfo

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.enums import Role
from audit.querysets import AuditedQuerySet

TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


def parse_ip_allowlist(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse one address or CIDR network per line; blank lines and ``#`` comments skipped.

    Raises ``ValidationError`` naming the line that is not an address or network.
    """
    networks = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            networks.append(ipaddress.ip_network(line, strict=False))
        except ValueError:
            raise ValidationError(
                _("Line %(number)s: %(value)s is not an IP address or network (CIDR)."),
                params={"number": number, "value": line},
                code="invalid_network",
            ) from None
    return networks


def validate_ip_allowlist(text: str) -> None:
    parse_ip_allowlist(text)


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Asia/Tokyo"
    )
    max_contacts = models.PositiveIntegerField(_("contact limit"), default=10_000)
    monthly_send_limit = models.PositiveIntegerField(_("monthly send limit"), default=50_000)
    approvals_required = models.PositiveSmallIntegerField(
        _("approvals required"), default=1, validators=[MinValueValidator(1)]
    )
    require_2fa = models.BooleanField(_("require two-factor for everyone"), default=False)
    session_timeout_minutes = models.PositiveIntegerField(
        _("session timeout (minutes of inactivity)"),
        default=60,
        validators=[MinValueValidator(5)],
    )
    ip_allowlist = models.TextField(
        _("IP allow-list"),
        blank=True,
        help_text=_("One address or network (CIDR) per line. Empty allows every address."),
        validators=[validate_ip_allowlist],
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approvals_required__gte=1), name="org_approvals_at_least_one"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def allows_ip(self, address: str | None) -> bool:
        networks = parse_ip_allowlist(self.ip_allowlist)
        if not networks:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in by e-mail; belongs to organisations through ``Membership``.

    ``is_staff`` marks a platform operator (Django admin). Users are deactivated, never
    deleted: the audit log refers to them.
    """

    email = models.EmailField(_("e-mail address"), max_length=254, unique=True)
    full_name = models.CharField(_("name"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("platform operator"), default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        self.email = self.email.strip().lower()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name or self.email


class MembershipQuerySet(AuditedQuerySet):
    def active(self):
        return self.filter(is_active=True, user__is_active=True)


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


def _invitation_nonce() -> str:
    return secrets.token_urlsafe(16)


class Invitation(models.Model):
    """An invitation to join an organisation, sent as a signed link that expires and works once."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="invitations"
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    nonce = models.CharField(max_length=32, default=_invitation_nonce, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} -> {self.organization}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None
