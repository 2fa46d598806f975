"""``manage.py seed_demo``: the demo organisation and accounts ``make run`` logs in with.

Idempotent: run it any number of times and the result is the same organisation
``demo`` ("Demo Company") with one admin, marketer, approver and viewer, plus a platform
operator, all with the one printed password (reset on every run, so the printed password
always works; enrolled second factors are kept). Refuses to run with ``DEBUG=0``: accounts
with a published password must never exist in production.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.enums import Role
from accounts.models import Invitation, Membership, Organization, User
from audit.enums import Action
from audit.services import record

DEMO_ORG_SLUG = "demo"
DEMO_ORG_NAME = "Demo Company"
# Development only (the command refuses DEBUG=0). Override with --password.
DEMO_PASSWORD = "tayori-demo-password"  # noqa: S105 - published demo password, DEBUG only
OPERATOR_EMAIL = "operator@demo.example"
DEMO_MEMBERS = [
    ("admin@demo.example", Role.ADMIN),
    ("marketer@demo.example", Role.MARKETER),
    ("approver@demo.example", Role.APPROVER),
    ("viewer@demo.example", Role.VIEWER),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo organisation and its accounts. Development only."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args, password: str, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo creates accounts with a published password: DEBUG only.")
        if not password:
            raise CommandError("--password must not be empty.")
        seed_demo(password)
        self.stdout.write(banner(password))


def banner(password: str) -> str:
    """The text telling a newcomer how to log in (``config.dev`` prints it too)."""
    width = max(len(email) for email, _role in DEMO_MEMBERS)
    lines = ["", "Demo accounts (organisation 'demo', Demo Company):"]
    lines += [f"  {email:<{width}}  {role.label}" for email, role in DEMO_MEMBERS]
    lines += [
        f"  {OPERATOR_EMAIL:<{width}}  Platform operator",
        f"Password for all of them: {password}",
        "Admins, approvers and the operator set up two-factor authentication at first login.",
        "",
    ]
    return "\n".join(lines)


@transaction.atomic
def seed_demo(password: str) -> Organization:
    """Create or reset the demo organisation and accounts; returns the organisation."""
    # Hash once: PBKDF2 is slow on purpose, and all accounts share the one password.
    hashed = make_password(password)
    operator = _user_with_password(OPERATOR_EMAIL, hashed, is_staff=True, is_superuser=True)
    admin_email = DEMO_MEMBERS[0][0]
    organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
    if organization is None:
        # The platform operator's door: the organisation is born with its admin.
        organization, invitation = services.create_organization(
            name=DEMO_ORG_NAME, slug=DEMO_ORG_SLUG, admin_email=admin_email, actor=operator
        )
        admin_user = User.objects.get(email__iexact=admin_email)
        admin_membership = Membership.objects.get(user=admin_user, organization=organization)
        # The admin's password is set below, so the set-your-password link is not needed.
        services.revoke_invitation(admin_membership, invitation)
    for email, role in DEMO_MEMBERS:
        user = _user_with_password(email, hashed)
        membership, created = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        if created:
            record(
                Action.MEMBER_ADDED,
                actor=operator,
                organization=organization,
                target=membership,
                email=email,
                role=role,
                reason="seed_demo",
            )
        elif membership.role != role or not membership.is_active:
            membership.role = role
            membership.is_active = True
            membership.save(update_fields=["role", "is_active"])
            record(
                Action.ROLE_CHANGED,
                actor=operator,
                organization=organization,
                target=membership,
                email=email,
                after=role,
                reason="seed_demo reset",
            )
    # No stray open invitations for the demo accounts (a previous seed's, say).
    for invitation in Invitation.objects.filter(
        organization=organization, accepted_at=None, revoked_at=None
    ).filter(email__in=[email for email, _role in DEMO_MEMBERS]):
        admin_membership = Membership.objects.get(
            user__email__iexact=admin_email, organization=organization
        )
        services.revoke_invitation(admin_membership, invitation)
    return organization


def _user_with_password(email: str, hashed: str, **flags) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(email=email, **flags)
    for name, value in flags.items():
        setattr(user, name, value)
    user.is_active = True
    user.password = hashed
    user.save()
    return user
