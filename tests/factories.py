"""Small factories for test data (plain functions: no factory library needed)."""

from __future__ import annotations

import itertools

from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.enums import Role
from accounts.models import Membership, Organization, User

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_organization(slug: str | None = None, **fields) -> Organization:
    n = next(_counter)
    slug = slug or f"org-{n}"
    fields.setdefault("name", slug.replace("-", " ").title())
    return Organization.objects.create(slug=slug, **fields)


def make_user(email: str | None = None, *, password: str = PASSWORD, **fields) -> User:
    email = email or f"user{next(_counter)}@example.com"
    return User.objects.create_user(email=email, password=password, **fields)


def make_member(
    organization: Organization, role: str = Role.VIEWER, email: str | None = None, **fields
) -> Membership:
    user = make_user(email, **fields)
    return Membership.objects.create(user=user, organization=organization, role=role)


def make_totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def login_verified(client, user: User) -> None:
    """Log ``client`` in as ``user`` with a verified second factor (as after a TOTP code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or make_totp_device(user)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()


def totp_code(device: TOTPDevice) -> str:
    """The code the user's authenticator app would show right now."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def make_importjob(organization: Organization):
    """An import job as the upload page makes it (a marketer's, one valid row)."""
    from contacts.importing import create_import_job

    marketer = make_member(organization, Role.MARKETER)
    job = create_import_job(marketer, file_name="contacts.csv", data=b"email\r\na@example.jp\r\n")
    job.report_data = b"line,value,reason\r\n"  # as after a dry run: the report exists
    job.save(update_fields=["report_data"])
    return job
