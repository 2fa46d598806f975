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
from accounts.querysets import TenantQuerySet
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


# --- API tokens ---------------------------------------------------------------------------

# What a token may do (accounts.tokens / accounts.api.permissions): ``read`` the GET
# endpoints, ``write`` create/change/delete and import, ``send`` the campaign workflow
# (submit, approve, reject, cancel, pause, resume, test sends).
API_SCOPES = ("read", "write", "send")


class ApiToken(models.Model):
    """A bearer token for the REST API: one person, one organisation, some scopes.

    The secret is shown once when the token is made; only its SHA-256 is kept
    (``token_hash``). ``prefix`` is public (it is in the token and on the tokens page) and
    finds the row. Tokens are revoked, never deleted: the audit log refers to them.
    Every change is audited explicitly (``accounts.tokens``), so the manager is a plain
    tenant queryset: recording ``last_used_at`` must not write a bulk-update entry per use.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(_("last used from"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "user"], name="apitoken_org_user")]

    def __str__(self) -> str:
        return f"{self.name} (tyr_{self.prefix}_…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def is_usable(self, now=None) -> bool:
        return not self.is_revoked and not self.is_expired(now)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class ApiIdempotentRequest(models.Model):
    """A write made with an ``Idempotency-Key`` header, kept 24 hours per token so that
    a retry gets the first response instead of doing the work twice.

    ``status_code`` is null while the first request is still running. Stored in the
    same transaction as the write it answers for, so a crash leaves neither.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()
    # Operational rows holding response bodies: the operation itself is audited.
    audit_history = False

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotent_request_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_created")]

    def __str__(self) -> str:
        return f"{self.token_id}: {self.key}"


class UserSession(models.Model):
    """One signed-in browser session of a person, for the sessions page and remote
    sign-out (``accounts.sessions``). The session itself stays in Django's session store;
    this row says whose it is and where it was last used. ``session_key`` is a bearer
    credential: it is never shown or sent to a browser (pages refer to rows by ``pk``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tracked_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("signed in"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last active"), default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="usersession_user_seen")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.ip or '?'}"


# Signal receivers, connected as soon as the models are loaded: logins and logouts keep
# UserSession rows and the re-authentication stamp in step (accounts.sessions); every
# migrate installs row-level security, every new connection gets its default scope
# (accounts.tenancy).
from accounts import sessions as _sessions  # noqa: E402, F401 - connects signal receivers
from accounts import tenancy as _tenancy  # noqa: E402, F401 - connects signal receivers
