"""Rules for organisations, members, invitations and two-factor authentication.

Plain functions taking the acting membership (or user); views, the API and management
commands call these and nothing else, so every door obeys the same rules and writes the
same audit entries.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.access import require_perm
from accounts.enums import Role
from accounts.models import Invitation, Membership, Organization
from accounts.net import client_ip
from audit import record
from audit.enums import Action
from audit.services import record_for_user

logger = logging.getLogger(__name__)
User = get_user_model()

POLICY_FIELDS = (
    "name",
    "time_zone",
    "approvals_required",
    "require_2fa",
    "session_timeout_minutes",
    "ip_allowlist",
)
RECOVERY_CODE_COUNT = 10
_INVITATION_SALT = "accounts.invitation"


class LastAdminError(ValidationError):
    """The change would leave the organisation without an active admin."""


class InvitationError(ValidationError):
    """The invitation link is invalid, expired, already used or revoked."""


# --- Organisations ----------------------------------------------------------------


@transaction.atomic
def create_organization(
    *, name: str, slug: str, admin_email: str, actor=None, time_zone: str = "Asia/Tokyo"
) -> tuple[Organization, Invitation]:
    """Create an organisation with its first admin (platform operator's door).

    The admin's account is created if needed (with no usable password) and an admin
    membership made at once, so the organisation is never without an admin; the returned
    invitation's link lets them set a password and log in. Refuses a taken slug and an
    address that is not an e-mail address (``ValidationError``), creating nothing.
    """
    email = User.objects.normalize_email(admin_email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(
            _("%(email)s is not a valid e-mail address."),
            params={"email": admin_email},
            code="invalid_email",
        ) from None
    if Organization.objects.filter(slug=slug).exists():
        raise ValidationError(
            _("An organisation with the slug %(slug)s already exists."),
            params={"slug": slug},
            code="slug_taken",
        )
    organization = Organization(name=name, slug=slug, time_zone=time_zone)
    organization.full_clean()
    organization.save()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None)
    Membership.objects.create(user=user, organization=organization, role=Role.ADMIN)
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=Role.ADMIN, invited_by=actor or user
    )
    record(
        Action.ORGANIZATION_CREATED,
        actor=actor,
        organization=organization,
        target=organization,
        admin_email=email,
    )
    return organization, invitation


@transaction.atomic
def update_policies(membership: Membership, changes: dict, request=None) -> dict:
    """Change the organisation's name and policies; returns ``{field: [before, after]}``.

    Only admins. Validation errors leave everything unchanged. An IP allow-list that
    would shut out the admin making the change (their address as this request shows it)
    is refused, so nobody locks their organisation out by a typo.
    """
    require_perm(membership, "org.manage")
    organization = Organization.objects.select_for_update().get(pk=membership.organization_id)
    diff = {}
    for field in POLICY_FIELDS:
        if field in changes and getattr(organization, field) != changes[field]:
            diff[field] = [getattr(organization, field), changes[field]]
            setattr(organization, field, changes[field])
    if not diff:
        return {}
    organization.full_clean()
    if "ip_allowlist" in diff and request is not None:
        address = client_ip(request)
        if not organization.allows_ip(address):
            raise ValidationError(
                _(
                    "This allow-list does not include your own address (%(ip)s): saving it "
                    "would lock you out. Add your address or network first."
                ),
                params={"ip": address},
                code="allowlist_excludes_self",
            )
    organization.save(update_fields=list(diff))
    record(
        Action.POLICY_CHANGED,
        actor=membership.user,
        organization=organization,
        target=organization,
        request=request,
        changes=diff,
    )
    membership.organization = organization
    return diff


# --- Members ----------------------------------------------------------------------


def _lock_members(organization_id: int) -> list[Membership]:
    return list(
        Membership.objects.select_for_update()
        .filter(organization_id=organization_id)
        .select_related("user")
        .order_by("pk")
    )


def _other_active_admins(members: list[Membership], excluding: Membership) -> int:
    return sum(
        1
        for m in members
        if m.pk != excluding.pk and m.is_active and m.user.is_active and m.role == Role.ADMIN
    )


@transaction.atomic
def change_role(membership: Membership, target: Membership, role: str, request=None) -> Membership:
    """Give ``target`` a new role. Refuses to demote the last active admin."""
    require_perm(membership, "members.manage", target)
    if role not in Role.values:
        raise ValidationError(_("Unknown role %(role)s."), params={"role": role}, code="role")
    members = _lock_members(membership.organization_id)
    target = next(m for m in members if m.pk == target.pk)
    if target.role == role:
        return target
    if target.role == Role.ADMIN and _other_active_admins(members, target) == 0:
        raise LastAdminError(
            _("%(email)s is the last active admin; make someone else admin first."),
            params={"email": target.user.email},
            code="last_admin",
        )
    before = target.role
    target.role = role
    target.save(update_fields=["role"])
    record(
        Action.ROLE_CHANGED,
        actor=membership.user,
        organization=target.organization,
        target=target,
        request=request,
        email=target.user.email,
        before=before,
        after=role,
    )
    return target


@transaction.atomic
def deactivate_member(membership: Membership, target: Membership, request=None) -> Membership:
    """Remove ``target``'s access to the organisation (the row stays for the audit log)."""
    require_perm(membership, "members.manage", target)
    members = _lock_members(membership.organization_id)
    target = next(m for m in members if m.pk == target.pk)
    if not target.is_active:
        return target
    if target.role == Role.ADMIN and _other_active_admins(members, target) == 0:
        raise LastAdminError(
            _("%(email)s is the last active admin; make someone else admin first."),
            params={"email": target.user.email},
            code="last_admin",
        )
    target.is_active = False
    target.save(update_fields=["is_active"])
    record(
        Action.MEMBER_DEACTIVATED,
        actor=membership.user,
        organization=target.organization,
        target=target,
        request=request,
        email=target.user.email,
        role=target.role,
    )
    return target


# --- Invitations --------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    return signing.TimestampSigner(salt=_INVITATION_SALT).sign_object(
        {"id": invitation.pk, "nonce": invitation.nonce}
    )


def invitation_url(invitation: Invitation) -> str:
    path = reverse("accounts:accept_invitation", args=[invitation_token(invitation)])
    return f"{settings.SITE_URL}{path}"


def load_invitation(token: str) -> Invitation:
    """The open invitation a link points to, or ``InvitationError`` saying why not."""
    signer = signing.TimestampSigner(salt=_INVITATION_SALT)
    try:
        data = signer.unsign_object(token, max_age=settings.INVITATION_MAX_AGE)
    except signing.SignatureExpired:
        raise InvitationError(
            _("This invitation has expired. Ask an admin for a new one."), code="expired"
        ) from None
    except (signing.BadSignature, TypeError, ValueError):
        raise InvitationError(_("This invitation link is not valid."), code="invalid") from None
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(pk=data.get("id"), nonce=data.get("nonce"))
        .first()
    )
    if invitation is None:
        raise InvitationError(_("This invitation link is not valid."), code="invalid")
    if invitation.accepted_at is not None:
        raise InvitationError(_("This invitation has already been used."), code="used")
    if invitation.revoked_at is not None:
        raise InvitationError(_("This invitation was withdrawn."), code="revoked")
    return invitation


def invitee_has_account(invitation: Invitation) -> bool:
    """Whether the invited address already has an account with a password (they log in
    first, then accept; they never set a password through an invitation link)."""
    user = User.objects.filter(email__iexact=invitation.email).first()
    return user is not None and user.has_usable_password()


def _send_invitation_email(invitation: Invitation) -> None:
    context = {"invitation": invitation, "url": invitation_url(invitation)}
    with translation.override(translation.get_language() or settings.LANGUAGE_CODE):
        subject = render_to_string("emails/invitation_subject.txt", context).strip()
        text = render_to_string("emails/invitation_body.txt", context)
        html = render_to_string("emails/invitation_body.html", context)
    message = EmailMultiAlternatives(subject, text, to=[invitation.email])
    message.attach_alternative(html, "text/html")
    message.send()


@transaction.atomic
def invite_member(membership: Membership, email: str, role: str, request=None) -> Invitation:
    """Invite ``email`` with ``role``; the e-mail goes out after the transaction commits."""
    require_perm(membership, "members.manage")
    organization = membership.organization
    email = User.objects.normalize_email(email.strip()).lower()
    if role not in Role.values:
        raise ValidationError(_("Unknown role %(role)s."), params={"role": role}, code="role")
    if Membership.objects.filter(
        organization=organization, user__email__iexact=email, is_active=True
    ).exists():
        raise ValidationError(
            _("%(email)s is already a member."), params={"email": email}, code="already_member"
        )
    # A new invitation replaces any open one for the same address.
    Invitation.objects.filter(
        organization=organization, email__iexact=email, accepted_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())
    invitation = Invitation.objects.create(
        organization=organization, email=email, role=role, invited_by=membership.user
    )
    record(
        Action.INVITATION_SENT,
        actor=membership.user,
        organization=organization,
        target=invitation,
        request=request,
        email=email,
        role=role,
    )
    transaction.on_commit(lambda: _send_invitation_email(invitation))
    return invitation


@transaction.atomic
def revoke_invitation(membership: Membership, invitation: Invitation, request=None) -> None:
    require_perm(membership, "members.manage", invitation)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        return
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    record(
        Action.INVITATION_REVOKED,
        actor=membership.user,
        organization=invitation.organization,
        target=invitation,
        request=request,
        email=invitation.email,
    )


@transaction.atomic
def accept_invitation(
    token: str, *, user=None, full_name: str = "", password: str | None = None, request=None
):
    """Accept the invitation behind ``token``; returns the member's ``Membership``.

    A logged-in ``user`` must be the invited address. Otherwise the account for that
    address is created (or, if it has no password yet, completed) with ``password``.
    The link works once: the invitation row is locked, then marked accepted.
    """
    invitation = load_invitation(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise InvitationError(_("This invitation has already been used."), code="used")
    if user is not None and user.is_authenticated:
        if user.email.lower() != invitation.email.lower():
            raise InvitationError(
                _("This invitation is for %(email)s; you are logged in as another person."),
                params={"email": invitation.email},
                code="wrong_user",
            )
    else:
        user = User.objects.filter(email__iexact=invitation.email).first()
        if user is not None and user.has_usable_password():
            raise InvitationError(
                _("You already have an account: log in first, then open the link again."),
                code="login_required",
            )
        if not password:
            raise InvitationError(_("Choose a password."), code="password_required")
        if user is None:
            user = User(email=invitation.email)
        from django.contrib.auth.password_validation import validate_password

        validate_password(password, user)
        user.full_name = full_name or user.full_name
        user.set_password(password)
        user.save()
    membership, created = Membership.objects.get_or_create(
        user=user, organization=invitation.organization, defaults={"role": invitation.role}
    )
    if not created:
        membership.role = invitation.role
        membership.is_active = True
        membership.save(update_fields=["role", "is_active"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    record(
        Action.INVITATION_ACCEPTED,
        actor=user,
        organization=invitation.organization,
        target=membership,
        request=request,
        email=user.email,
        role=membership.role,
    )
    return membership


# --- Two-factor -----------------------------------------------------------------------


def totp_device_for_enrolment(user) -> TOTPDevice:
    """The user's pending (unconfirmed) authenticator, created if there is none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


@transaction.atomic
def confirm_totp_device(user, token: str, request=None) -> list[str] | None:
    """Confirm the pending authenticator with a code from it.

    Returns fresh recovery codes on success (shown once), ``None`` if the code is wrong
    (recorded as a 2FA failure).
    """
    device = totp_device_for_enrolment(user)
    if not device.verify_token(token.strip()):
        record_for_user(Action.TWO_FACTOR_FAILED, user, request, stage="enrolment")
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record_for_user(Action.TWO_FACTOR_ENROLLED, user, request)
    if request is not None:
        from django_otp import login as otp_login

        otp_login(request, device)
    return generate_recovery_codes(user, request, audit=False)


def generate_recovery_codes(user, request=None, *, audit: bool = True) -> list[str]:
    """Replace the user's recovery codes with ten new single-use ones (shown once)."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, name="Recovery codes", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    if audit:
        record_for_user(Action.RECOVERY_CODES_GENERATED, user, request)
    return codes


def verify_second_factor(request, token: str) -> bool:
    """Check a TOTP or recovery code for the logged-in user and mark the session verified."""
    from django_otp import devices_for_user
    from django_otp import login as otp_login

    user = request.user
    token = token.strip().replace(" ", "")
    for device in devices_for_user(user, confirmed=True):
        if device.verify_token(token):
            otp_login(request, device)
            return True
    record_for_user(Action.TWO_FACTOR_FAILED, user, request, stage="login")
    return False
