from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    """Every operation the audit log knows. Later issues add theirs here."""

    LOGIN = "login", _("Login")
    LOGOUT = "logout", _("Logout")
    LOGIN_FAILED = "login_failed", _("Failed login")
    LOCKOUT = "lockout", _("Account locked out")
    TWO_FACTOR_ENROLLED = "2fa_enrolled", _("Two-factor enrolled")
    TWO_FACTOR_FAILED = "2fa_failed", _("Two-factor code rejected")
    RECOVERY_CODES_GENERATED = "2fa_recovery_codes", _("Recovery codes generated")
    IP_REFUSED = "ip_refused", _("Request refused by IP allow-list")
    INVITATION_SENT = "invitation_sent", _("Invitation sent")
    INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
    INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")
    ROLE_CHANGED = "role_changed", _("Role changed")
    MEMBER_DEACTIVATED = "member_deactivated", _("Member deactivated")
    ORGANIZATION_CREATED = "organization_created", _("Organisation created")
    POLICY_CHANGED = "policy_changed", _("Organisation policy changed")
    AUDIT_EXPORTED = "audit_exported", _("Audit log exported")
    BULK_CREATE = "bulk_create", _("Bulk create")
    BULK_UPDATE = "bulk_update", _("Bulk update")
