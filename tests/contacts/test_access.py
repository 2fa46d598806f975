"""Every contacts page: anonymous -> login, outsider -> 404, role without the permission
-> 403, another organisation's object -> 404. A new URL without a row here fails."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, reverse

from accounts.enums import Role
from contacts import services
from contacts.enums import FieldType, SuppressionReason
from contacts.importing import create_import_job
from contacts.urls import urlpatterns
from tests.contacts.conftest import csv_bytes
from tests.factories import login_verified, make_member

pytestmark = pytest.mark.django_db

# name -> (object kind, method, who may: "view" | "edit" | "import" | "export" | "admin")
ROUTES = {
    "list": (None, "get", "view"),
    "create": (None, "get", "edit"),
    "detail": ("contact", "get", "view"),
    "edit": ("contact", "get", "edit"),
    "delete": ("contact", "post", "edit"),
    "suppress": ("contact", "post", "edit"),
    "lists": (None, "get", "view"),
    "list_detail": ("list", "get", "view"),
    "list_edit": ("list", "get", "edit"),
    "list_delete": ("list", "post", "edit"),
    "list_grants": ("list", "get", "admin"),
    "fields": (None, "get", "admin"),
    "field_edit": ("field", "get", "admin"),
    "suppressions": (None, "get", "view"),
    "suppression_lift": ("suppression", "get", "admin"),
    "imports": (None, "get", "import"),
    "import_detail": ("job", "get", "import"),
    "import_progress": ("job", "get", "import"),
    "import_confirm": ("job", "post", "import"),
    "import_requeue": ("job", "post", "import"),
    "import_report": ("job", "get", "import"),
    "export": (None, "get", "export"),
}
ALLOWED = {
    "view": {"admin", "marketer", "approver"},
    "edit": {"admin", "marketer"},
    "import": {"admin", "marketer"},
    "export": {"admin", "marketer"},
    "admin": {"admin"},
}


def _objects(organization, admin, marketer):
    contact_list = services.create_list(admin, "Customers")
    contact = services.create_contact(
        admin, services.ContactInput(email="c@example.jp", lists=[contact_list])
    )
    field = services.create_custom_field(admin, key="plan", label="Plan", field_type=FieldType.TEXT)
    suppression = services.add_suppression(
        organization, "s@example.jp", SuppressionReason.MANUAL, source="test"
    )
    job = create_import_job(marketer, file_name="a.csv", data=csv_bytes([["email"], ["a@x.jp"]]))
    job.report_data = b"x"
    job.save(update_fields=["report_data"])
    return {
        "contact": contact,
        "list": contact_list,
        "field": field,
        "suppression": suppression,
        "job": job,
    }


_KWARG = {
    "contact": "contact_id",
    "list": "list_id",
    "field": "field_id",
    "suppression": "suppression_id",
    "job": "import_id",
}


def _url(name, slug, obj, kind=None):
    kwargs = {"org_slug": slug}
    if obj is not None:
        kwargs[_KWARG[kind]] = obj.pk
    return reverse(f"contacts:{name}", kwargs=kwargs)


def test_every_contacts_url_has_an_access_rule():
    names = {p.name for p in urlpatterns if isinstance(p, URLPattern)}
    assert names == set(ROUTES)


@pytest.fixture
def seeded(org_a, admin, marketer):
    return _objects(org_a, admin, marketer)


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_anonymous_visitors_are_sent_to_the_login_page(client, org_a, seeded, name):
    kind, method, _level = ROUTES[name]
    url = _url(name, org_a.slug, seeded.get(kind), kind)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_an_outsider_gets_404_for_every_page_of_another_organisation(
    outsider_client, org_a, seeded, name
):
    kind, method, _level = ROUTES[name]
    response = getattr(outsider_client, method)(_url(name, org_a.slug, seeded.get(kind), kind))
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r[0] is not None))
def test_another_organisations_object_is_404_in_ones_own_organisation(
    outsider_client, org_b, seeded, name
):
    kind, method, _level = ROUTES[name]
    response = getattr(outsider_client, method)(_url(name, org_b.slug, seeded[kind], kind))
    assert response.status_code == 404


DENIED = [
    (name, persona)
    for name, (_kind, _method, level) in sorted(ROUTES.items())
    for persona in ("marketer", "approver", "viewer")
    if persona not in ALLOWED[level]
]
SEEN = [
    (name, persona)
    for name, (_kind, method, level) in sorted(ROUTES.items())
    for persona in ("admin", "marketer", "approver")
    if method == "get" and persona in ALLOWED[level]
]


@pytest.mark.parametrize(("name", "persona"), DENIED)
def test_roles_without_the_permission_get_403(request, org_a, seeded, name, persona):
    kind, method, _level = ROUTES[name]
    client = request.getfixturevalue(f"{persona}_client")
    response = getattr(client, method)(_url(name, org_a.slug, seeded.get(kind), kind))
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "persona"), SEEN)
def test_roles_with_the_permission_see_the_page(request, org_a, seeded, name, persona):
    kind, _method, _level = ROUTES[name]
    client = request.getfixturevalue(f"{persona}_client")
    response = client.get(_url(name, org_a.slug, seeded.get(kind), kind))
    assert response.status_code == 200


def test_a_marketer_cannot_open_another_marketers_import(org_a, seeded):
    other = make_member(org_a, Role.MARKETER, "other@a.example")
    client = Client()
    login_verified(client, other.user)
    response = client.get(_url("import_detail", org_a.slug, seeded["job"], "job"))
    assert response.status_code == 404
