"""``manage.py createorganization``: the platform operator's door to a new tenant."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from accounts import services
from accounts.models import Invitation, Membership, Organization, User
from audit.models import AuditEntry
from tests.factories import make_organization


def _run(*args, **options) -> str:
    out = io.StringIO()
    call_command("createorganization", *args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_createorganization_creates_org_admin_and_prints_invitation_link():
    output = _run("acme", name="Acme Inc.", admin_email=" Boss@Acme.example ")

    organization = Organization.objects.get(slug="acme")
    assert (organization.name, organization.time_zone) == ("Acme Inc.", "Asia/Tokyo")
    membership = Membership.objects.get(organization=organization)
    assert (membership.user.email, membership.role) == ("boss@acme.example", "admin")
    assert membership.user.has_usable_password() is False
    invitation = Invitation.objects.get(organization=organization)
    lines = output.splitlines()
    assert lines[0] == "Created organisation acme (Acme Inc.) with admin boss@acme.example."
    match = re.fullmatch(r"http://127\.0\.0\.1:8000/invitations/([^/]+)/", lines[-1])
    assert match is not None
    assert services.load_invitation(match.group(1)) == invitation
    entry = AuditEntry.objects.for_organization(organization).get()
    assert (entry.action, entry.details) == (
        "organization_created",
        {"admin_email": "boss@acme.example"},
    )


@pytest.mark.django_db
def test_createorganization_link_lets_the_admin_set_a_password(client):
    output = _run("acme", name="Acme", admin_email="boss@acme.example", time_zone="Europe/Paris")
    path = output.splitlines()[-1].removeprefix("http://127.0.0.1:8000")

    response = client.post(
        path,
        {
            "password1": "a long and unusual passphrase",
            "password2": "a long and unusual passphrase",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/o/acme/"
    assert User.objects.get(email="boss@acme.example").check_password(
        "a long and unusual passphrase"
    )
    assert Organization.objects.get(slug="acme").time_zone == "Europe/Paris"


@pytest.mark.django_db
def test_createorganization_refuses_a_taken_slug():
    make_organization("acme", name="The first Acme")

    with pytest.raises(CommandError) as error:
        _run("acme", name="Acme again", admin_email="boss@acme.example")

    assert str(error.value) == "An organisation with the slug acme already exists."
    assert list(Organization.objects.values_list("name", flat=True)) == ["The first Acme"]
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["not-an-address", "two@@at.example", "boss@", ""])
def test_createorganization_refuses_a_bad_email(email):
    with pytest.raises(CommandError) as error:
        _run("acme", name="Acme", admin_email=email)

    assert str(error.value) == f"{email} is not a valid e-mail address."
    assert not Organization.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_createorganization_refuses_an_unknown_time_zone():
    with pytest.raises(CommandError) as error:
        _run("acme", name="Acme", admin_email="boss@acme.example", time_zone="Mars/Olympus")

    assert str(error.value) == ("time_zone: Value 'Mars/Olympus' is not a valid choice.")
    assert not Organization.objects.exists()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_createorganization_refuses_a_bad_slug():
    with pytest.raises(CommandError) as error:
        _run("Acme Inc", name="Acme", admin_email="boss@acme.example")

    assert str(error.value) == (
        "slug: Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."
    )
    assert not Organization.objects.exists()


@pytest.mark.django_db
def test_createorganization_reuses_an_existing_account(outsider):
    _run("acme", name="Acme", admin_email="OUTSIDER@b.example")

    membership = Membership.objects.get(organization__slug="acme")
    assert membership.user == outsider.user
    assert User.objects.filter(email__iexact="outsider@b.example").count() == 1
