"""A person in several organisations; who sees which organisation."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.enums import Role
from accounts.models import Membership
from tests.factories import login_verified


@pytest.fixture
def two_org_member(marketer, org_b):
    Membership.objects.create(user=marketer.user, organization=org_b, role=Role.VIEWER)
    return marketer.user


def test_person_in_two_organisations_reaches_both_dashboards(client, two_org_member):
    login_verified(client, two_org_member)

    dashboard_a = client.get("/o/org-a/")
    dashboard_b = client.get("/o/org-b/")

    assert (dashboard_a.status_code, dashboard_b.status_code) == (200, 200)
    assert dashboard_a.context["current_org"].slug == "org-a"
    assert dashboard_b.context["current_org"].slug == "org-b"
    assert b"<h1>Organisation A</h1>" in dashboard_a.content
    assert b"<h1>Organisation B</h1>" in dashboard_b.content
    assert b"You are Marketer here." in dashboard_a.content
    assert b"You are Viewer here." in dashboard_b.content


def test_switcher_lists_both_organisations(client, two_org_member):
    login_verified(client, two_org_member)

    response = client.get("/o/org-a/")

    assert [m.organization.slug for m in response.context["my_memberships"]] == [
        "org-a",
        "org-b",
    ]
    content = response.content.decode()
    switcher = content[content.index('<details class="org-switcher">') :]
    switcher = switcher[: switcher.index("</details>")]
    assert '<a href="/o/org-a/">Organisation A</a>' in switcher
    assert '<a href="/o/org-b/">Organisation B</a>' in switcher


def test_home_lists_every_organisation_of_a_person_in_two(client, two_org_member):
    login_verified(client, two_org_member)

    response = client.get("/")

    assert response.status_code == 200
    assert [(m.organization.slug, m.role) for m in response.context["memberships"]] == [
        ("org-a", "marketer"),
        ("org-b", "viewer"),
    ]


def test_home_goes_straight_to_the_only_organisation(marketer_client):
    response = marketer_client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/o/org-a/"


def test_switcher_is_hidden_for_a_person_in_one_organisation(marketer_client):
    response = marketer_client.get("/o/org-a/")

    assert b"org-switcher" not in response.content


def test_outsider_gets_not_found_for_another_organisation(outsider_client, org_a):
    response = outsider_client.get("/o/org-a/")

    assert response.status_code == 404


def test_unknown_organisation_is_not_found(admin_client):
    response = admin_client.get("/o/no-such-org/")

    assert response.status_code == 404


def test_inactive_organisation_is_not_found(admin_client, org_a):
    org_a.is_active = False
    org_a.save()

    response = admin_client.get("/o/org-a/")

    assert response.status_code == 404


def test_organisation_pages_use_the_organisations_time_zone(admin_client, org_a):
    org_a.time_zone = "America/New_York"
    org_a.save()

    response = admin_client.get("/o/org-a/")

    assert b"Times are shown in America/New_York." in response.content


def test_organisation_time_zone_does_not_leak_into_the_next_request(admin_client, org_a):
    org_a.time_zone = "America/New_York"
    org_a.save()
    admin_client.get("/o/org-a/")

    assert timezone.get_current_timezone_name() == "UTC"
