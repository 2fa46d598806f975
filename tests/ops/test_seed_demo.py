"""``manage.py seed_demo``: the demo organisation ``make run`` prints, idempotently."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Invitation, Membership, Organization, User
from audit.models import AuditEntry
from audit.services import chain_for, verify_chain

EXPECTED_MEMBERS = [
    ("admin@demo.example", "admin"),
    ("approver@demo.example", "approver"),
    ("marketer@demo.example", "marketer"),
    ("viewer@demo.example", "viewer"),
]
PASSWORD = "tayori-demo-password"


def _seed(**kwargs) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **kwargs)
    return out.getvalue()


def _state():
    organization = Organization.objects.get(slug="demo")
    members = list(
        Membership.objects.filter(organization=organization)
        .order_by("user__email")
        .values_list("user__email", "role", "is_active")
    )
    return organization.name, members, User.objects.count()


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


@pytest.mark.django_db
def test_it_creates_the_demo_organisation_members_and_operator(debug):
    output = _seed()

    name, members, users = _state()
    assert name == "Demo Company"
    assert members == [(email, role, True) for email, role in EXPECTED_MEMBERS]
    assert users == 5
    operator = User.objects.get(email="operator@demo.example")
    assert (operator.is_staff, operator.is_superuser) == (True, True)
    assert not Membership.objects.filter(user=operator).exists()
    for email, _role in [*EXPECTED_MEMBERS, ("operator@demo.example", "")]:
        assert User.objects.get(email=email).check_password(PASSWORD), email
    assert "admin@demo.example" in output
    assert "operator@demo.example" in output
    assert f"Password for all of them: {PASSWORD}" in output
    # No open set-your-password link lying around for an account that has a password.
    assert Invitation.objects.filter(accepted_at=None, revoked_at=None).count() == 0


@pytest.mark.django_db
def test_it_is_idempotent_and_repairs_what_was_changed(debug):
    _seed()
    first = _state()
    marketer = Membership.objects.get(user__email="marketer@demo.example")
    marketer.role = "viewer"
    marketer.is_active = False
    marketer.save()
    viewer = User.objects.get(email="viewer@demo.example")
    viewer.set_password("something else entirely")
    viewer.save()

    _seed()

    assert _state() == first
    assert User.objects.get(email="viewer@demo.example").check_password(PASSWORD)


@pytest.mark.django_db
def test_its_audit_entries_keep_the_chain_intact(debug):
    _seed()
    _seed()

    organization = Organization.objects.get(slug="demo")
    actions = list(
        AuditEntry.objects.filter(organization=organization)
        .order_by("seq")
        .values_list("action", flat=True)
    )
    # The second run changes nothing, so it records nothing.
    assert actions == [
        "organization_created",
        "invitation_revoked",
        "member_added",
        "member_added",
        "member_added",
    ]
    assert verify_chain(chain_for(organization)) is None


@pytest.mark.django_db
def test_it_takes_another_password(debug):
    output = _seed(password="another demo password")

    assert User.objects.get(email="admin@demo.example").check_password("another demo password")
    assert "Password for all of them: another demo password" in output


@pytest.mark.django_db
def test_it_refuses_to_run_in_production(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError) as excinfo:
        _seed()

    assert str(excinfo.value) == "seed_demo creates accounts with a published password: DEBUG only."
    assert not Organization.objects.filter(slug="demo").exists()
