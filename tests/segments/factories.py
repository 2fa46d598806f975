"""Contacts-side test data for the segment tests (plain functions, like tests.factories)."""

from __future__ import annotations

import itertools

from django.utils import timezone

from contacts.enums import ConsentMethod, ContactStatus, FieldType
from contacts.models import Contact, ContactList, CustomField, ListMembership, Suppression, Tag

_counter = itertools.count(1)


def make_contact(
    organization,
    email: str | None = None,
    *,
    tags=(),
    lists=(),
    attributes=None,
    status: str = ContactStatus.SUBSCRIBED,
    consent_method: str = ConsentMethod.WEB_FORM,
    **fields,
) -> Contact:
    email = email or f"contact{next(_counter)}@example.jp"
    fields.setdefault("created_at", timezone.now())
    contact = Contact.objects.create(
        organization=organization,
        email=email,
        attributes=attributes or {},
        status=status,
        consent_method=consent_method,
        **fields,
    )
    if tags:
        contact.tags.add(*tags, through_defaults=_through_defaults(Contact.tags, organization))
    for contact_list in lists:
        ListMembership.objects.create(
            organization=organization, contact=contact, contact_list=contact_list
        )
    return contact


def _through_defaults(relation, organization) -> dict:
    through = relation.through
    has_org = any(f.name == "organization" for f in through._meta.concrete_fields)
    return {"organization": organization} if has_org else {}


def make_tag(organization, name: str | None = None) -> Tag:
    return Tag.objects.create(organization=organization, name=name or f"tag-{next(_counter)}")


def make_list(organization, name: str | None = None, *, restricted: bool = False) -> ContactList:
    return ContactList.objects.create(
        organization=organization,
        name=name or f"list-{next(_counter)}",
        is_restricted=restricted,
    )


def make_field(
    organization, key: str, field_type: str = FieldType.TEXT, choices=(), label: str = ""
) -> CustomField:
    return CustomField.objects.create(
        organization=organization,
        key=key,
        label=label or key.replace("_", " ").title(),
        field_type=field_type,
        choices=list(choices),
    )


def make_suppression(organization, address: str, reason: str = "manual") -> Suppression:
    return Suppression.objects.create(organization=organization, address=address, reason=reason)
