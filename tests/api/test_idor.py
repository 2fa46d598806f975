"""The IDOR matrix: every API URL naming an object, replayed with a token of another
organisation (an admin's, with every scope), answers 404 for every method, never a 403
that would confirm the object exists, and changes nothing.

The routes come from the URL resolver, so a new endpoint with an id joins the matrix or
fails ``test_the_matrix_covers_every_object_url``.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import get_resolver

from accounts.enums import Role
from audit.models import AuditEntry
from campaigns import services as campaign_services
from contacts.models import ContactList, CustomField
from segments.models import Segment
from tests.api.conftest import api_for
from tests.campaigns.conftest import make_campaign, make_contact, make_list
from tests.factories import make_member
from tests.test_url_access import build_url, walk

# URL name (in the "api" namespace) -> the kind of object its id names.
OBJECT_KINDS = {
    "contact": "contact",
    "list": "list",
    "list_contacts": "list",
    "list_members": "list",
    "field": "field",
    "segment": "segment",
    "segment_count": "segment",
    "segment_sample": "segment",
    "campaign": "campaign",
    "campaign_preview": "campaign",
    "campaign_status": "campaign",
    "campaign_test_send": "campaign",
    "campaign_submit": "campaign",
    "campaign_withdraw": "campaign",
    "campaign_approve": "campaign",
    "campaign_reject": "campaign",
    "campaign_cancel": "campaign",
    "campaign_pause": "campaign",
    "campaign_resume": "campaign",
    "campaign_report": "campaign",
    "domain": "domain",
    "domain_verify": "domain",
}


def _object_routes():
    return [
        route
        for route in walk(get_resolver())
        if route.name and route.name.startswith("api:") and "pk" in route.kwargs
    ]


def _delivery_tables_exist() -> bool:
    return "delivery_sendingdomain" in connection.introspection.table_names()


def _objects(org_a, admin):
    customers = make_list(org_a, "Customers")
    make_contact(org_a, "yamada@example.jp", customers)
    segment = Segment.objects.create(
        organization=org_a, name="All", rules={"match": "all", "rules": []}
    )
    objects = {
        "contact": make_contact(org_a, "sato@example.jp", customers),
        "list": customers,
        "field": CustomField.objects.create(
            organization=org_a, key="plan", label="Plan", field_type="text"
        ),
        "segment": segment,
        "campaign": make_campaign(admin, customers),
    }
    if _delivery_tables_exist():
        from delivery.models import SendingDomain

        objects["domain"] = SendingDomain.objects.create(
            organization=org_a,
            domain="shop.example",
            rsa_selector="s1",
            rsa_private_key="x",
            rsa_public_key="y",
        )
    return objects


def _methods(route) -> list[str]:
    view = route.callback.view_class
    return [m for m in ("get", "post", "patch", "delete") if hasattr(view, m)]


def test_the_matrix_covers_every_object_url():
    names = {route.name.removeprefix("api:") for route in _object_routes()}

    assert names == set(OBJECT_KINDS)


@pytest.mark.django_db
def test_every_object_url_is_404_for_another_organisations_token(org_a, org_b):
    admin = make_member(org_a, Role.ADMIN, "admin@a.example")
    outsider = api_for(make_member(org_b, Role.ADMIN, "outsider@b.example"))
    objects = _objects(org_a, admin)
    audit_before = AuditEntry.objects.filter(organization=org_a).count()
    checked, problems = 0, []
    for route in _object_routes():
        kind = OBJECT_KINDS[route.name.removeprefix("api:")]
        if kind not in objects:
            continue  # sending domains: only once delivery's tables exist
        url = build_url(route, lambda name, obj=objects[kind]: obj.pk)
        for method in _methods(route):
            response = (
                getattr(outsider, method)(url)
                if method in ("get", "delete")
                else (getattr(outsider, method)(url, {}))
            )
            checked += 1
            if response.status_code != 404:
                problems.append(f"{method.upper()} {url}: {response.status_code}")

    assert checked >= 28
    assert not problems, "\n".join(problems)
    # Nothing happened to organisation A (no audit entry, no change).
    assert AuditEntry.objects.filter(organization=org_a).count() == audit_before
    assert objects["campaign"].__class__.objects.get().state == "draft"
    assert ContactList.objects.filter(pk=objects["list"].pk).exists()


@pytest.mark.django_db
def test_the_same_urls_are_found_by_the_organisations_admin(org_a):
    # The control: the objects exist, so the outsider's 404 comes from tenancy.
    admin = make_member(org_a, Role.ADMIN, "admin@a.example")
    api = api_for(admin)
    objects = _objects(org_a, admin)
    campaign_services.SenderProfile.for_organization(org_a)
    problems = []
    for route in _object_routes():
        kind = OBJECT_KINDS[route.name.removeprefix("api:")]
        if kind not in objects or "get" not in _methods(route):
            continue
        url = build_url(route, lambda name, obj=objects[kind]: obj.pk)
        response = api.get(url)
        if response.status_code != 200:
            problems.append(f"GET {url}: {response.status_code}")

    assert not problems, "\n".join(problems)
