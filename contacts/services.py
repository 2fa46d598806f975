"""The rules for contacts, lists, grants, suppressions and custom fields.

Plain functions taking the acting ``Membership``; views, the import task, management
commands (and later the API) call these and nothing else.

Visibility (one rule, used by every page, search, count and export):
``visible_contacts(membership)`` is the only way to list contacts for a person. A contact
in a restricted list the person holds no grant for is invisible to them, whatever other
list it is also in. Admins see everything. A role without ``contacts.view`` (viewer)
sees only contacts of restricted lists it was explicitly granted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, get_objects_for_user, get_perms, remove_perm

from accounts.access import has_perm, require_perm
from accounts.enums import Role
from accounts.models import Membership, Organization
from audit import record
from audit.enums import Action
from contacts.attributes import InvalidValue, parse_value
from contacts.emails import InvalidEmail, normalise_email
from contacts.enums import (
    SUPPRESSION_STATUS,
    ConsentMethod,
    ContactEventKind,
    ContactStatus,
    FieldType,
    SuppressionReason,
)
from contacts.models import (
    GRANT_CODENAMES,
    Contact,
    ContactEvent,
    ContactList,
    CustomField,
    ListMembership,
    Suppression,
    Tag,
)

CONTACT_FIELDS = ("email", "last_name", "first_name", "company", "phone")


# --- Visibility -------------------------------------------------------------------------


def _is_admin(membership: Membership) -> bool:
    return membership.is_active and membership.role == Role.ADMIN


def granted_list_ids(membership: Membership, perm: str = "contacts.view") -> frozenset[int]:
    """Restricted lists of the organisation on which the person holds a grant for ``perm``.

    Cached on the membership object for the rest of the request.
    """
    cache = membership.__dict__.setdefault("_contact_list_grants", {})
    if perm not in cache:
        restricted = ContactList.objects.for_organization(membership.organization_id).filter(
            is_restricted=True
        )
        cache[perm] = frozenset(
            get_objects_for_user(
                membership.user,
                GRANT_CODENAMES[perm],
                klass=restricted,
                accept_global_perms=False,
                with_superuser=False,
            ).values_list("pk", flat=True)
        )
    return cache[perm]


def hidden_list_ids(membership: Membership, perm: str = "contacts.view") -> frozenset[int]:
    """Restricted lists whose contacts ``membership`` may not see (or edit, for
    ``contacts.edit``)."""
    if _is_admin(membership):
        return frozenset()
    restricted = ContactList.objects.for_organization(membership.organization_id).filter(
        is_restricted=True
    )
    return frozenset(restricted.values_list("pk", flat=True)) - granted_list_ids(membership, perm)


def in_lists(list_ids, *, subscribed_only: bool = False) -> Exists:
    """Filter: the contact is in at least one of ``list_ids``.

    Visibility counts every membership row, also one the person left through the
    preference page (leaving a restricted list must not reveal the contact to people
    who may not see that list). Listing a list's members uses ``subscribed_only=True``.
    """
    memberships = ListMembership.objects.all()
    if subscribed_only:
        memberships = memberships.subscribed()
    return Exists(memberships.filter(contact=OuterRef("pk"), contact_list_id__in=list_ids))


def visible_contacts(membership: Membership, perm: str = "contacts.view") -> QuerySet[Contact]:
    """Every contact ``membership`` may see (``perm="contacts.edit"``: may change)."""
    contacts = Contact.objects.for_organization(membership.organization_id)
    if not membership.is_active:
        return contacts.none()
    if _is_admin(membership):
        return contacts
    if not has_perm(membership, perm):
        granted = granted_list_ids(membership, perm)
        if not granted:
            return contacts.none()
        contacts = contacts.filter(in_lists(granted))
    hidden = hidden_list_ids(membership, perm)
    if hidden:
        contacts = contacts.exclude(in_lists(hidden))
    return contacts


def can_see_contacts(membership: Membership) -> bool:
    """Whether the contacts pages are open to this person at all."""
    return has_perm(membership, "contacts.view") or bool(granted_list_ids(membership))


def require_contacts_access(membership: Membership) -> None:
    if not can_see_contacts(membership):
        raise PermissionDenied("contacts.view")


def visible_lists(membership: Membership, perm: str = "contacts.view") -> QuerySet[ContactList]:
    lists = ContactList.objects.for_organization(membership.organization_id)
    if _is_admin(membership):
        return lists
    granted = granted_list_ids(membership, perm)
    if has_perm(membership, perm):
        return lists.filter(Q(is_restricted=False) | Q(pk__in=granted))
    return lists.filter(pk__in=granted)


def visible_suppressions(membership: Membership) -> QuerySet[Suppression]:
    """The organisation's suppressions minus the addresses of contacts hidden from this
    person (a suppressed address would otherwise reveal a contact of a restricted list).
    The suppressions page and the API both list exactly these."""
    suppressions = Suppression.objects.for_organization(membership.organization_id)
    hidden = hidden_list_ids(membership)
    if hidden:
        hidden_contacts = Contact.objects.for_organization(membership.organization_id).filter(
            in_lists(hidden)
        )
        suppressions = suppressions.annotate(key=Lower("address")).exclude(
            Exists(hidden_contacts.annotate(key=Lower("email")).filter(key=OuterRef("key")))
        )
    return suppressions


def get_contact_for_member(membership: Membership, pk, perm: str = "contacts.view") -> Contact:
    """One contact: 403 without any access to contacts (or to ``perm``), 404 when it is
    another organisation's or hidden from this person."""
    require_contacts_access(membership)
    if perm != "contacts.view" and not (
        has_perm(membership, perm) or granted_list_ids(membership, perm)
    ):
        raise PermissionDenied(perm)
    contact = visible_contacts(membership).filter(pk=pk).first()
    if contact is None:
        raise Http404
    if perm != "contacts.view" and not visible_contacts(membership, perm).filter(pk=pk).exists():
        raise PermissionDenied(perm)
    return contact


def get_list_for_member(membership: Membership, pk, perm: str = "contacts.view") -> ContactList:
    contact_list = ContactList.objects.for_organization(membership.organization_id).filter(pk=pk)
    contact_list = contact_list.first()
    if contact_list is None:
        raise Http404
    require_perm(membership, perm, contact_list)
    return contact_list


def search_contacts(
    membership: Membership,
    *,
    query: str = "",
    list_id: int | None = None,
    tag: str = "",
    status: str = "",
) -> QuerySet[Contact]:
    """Visible contacts matching every word of ``query`` (e-mail, names, company) and the
    filters. A list the person may not see filters to nothing. ``list_id`` selects the
    list's subscribed members, as its member count and a campaign to it do; contacts who
    left it from a message show on their own page, marked as having left."""
    contacts = visible_contacts(membership)
    for word in query.split():
        contacts = contacts.filter(
            Q(email__icontains=word)
            | Q(last_name__icontains=word)
            | Q(first_name__icontains=word)
            | Q(company__icontains=word)
        )
    if list_id:
        if not visible_lists(membership).filter(pk=list_id).exists():
            return contacts.none()
        contacts = contacts.filter(in_lists([list_id], subscribed_only=True))
    if tag:
        contacts = contacts.filter(tags__name=tag)
    if status:
        contacts = contacts.filter(status=status)
    return contacts


# --- Helpers ------------------------------------------------------------------------


def lock_organization(organization_id: int) -> Organization:
    """Serialise the writes that count against ``max_contacts``.

    ``FOR NO KEY UPDATE``: rows that merely reference the organisation (audit entries,
    memberships) take ``FOR KEY SHARE`` on it and are not blocked.
    """
    return Organization.objects.select_for_update(no_key=True).get(pk=organization_id)


def active_suppression(organization_id: int, address: str) -> Suppression | None:
    return (
        Suppression.objects.for_organization(organization_id).active().for_address(address).first()
    )


def find_contact(organization_id: int, address: str) -> Contact | None:
    return (
        Contact.objects.for_organization(organization_id)
        .annotate(email_key=Lower("email"))
        .filter(email_key=address.lower())
        .first()
    )


def _email_or_error(value: str) -> str:
    try:
        return normalise_email(value).address
    except InvalidEmail as error:
        raise ValidationError({"email": str(error)}) from None


def clean_attributes(organization_id: int, raw: dict) -> dict:
    """Parse ``{key: text}`` against the organisation's custom fields; unknown keys refused.

    Empty values are dropped. Raises ``ValidationError`` keyed by ``attr:<key>``.
    """
    fields = {f.key: f for f in CustomField.objects.for_organization(organization_id)}
    values, errors = {}, {}
    for key, text in raw.items():
        field = fields.get(key)
        if field is None:
            errors[f"attr:{key}"] = _("Unknown custom field.")
            continue
        if text is None or (isinstance(text, str) and not text.strip()):
            continue
        try:
            values[key] = parse_value(field.field_type, str(text), field.choices)
        except InvalidValue as error:
            errors[f"attr:{key}"] = str(error)
    if errors:
        raise ValidationError(errors)
    return values


def _tags(organization_id: int, names: Iterable[str]) -> list[Tag]:
    tags = []
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        tag, _created = Tag.objects.get_or_create(organization_id=organization_id, name=name[:100])
        tags.append(tag)
    return tags


def _event(contact: Contact, kind: str, actor=None, **details) -> ContactEvent:
    return ContactEvent.objects.create(
        organization_id=contact.organization_id,
        contact=contact,
        kind=kind,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=getattr(actor, "email", "") or (actor if isinstance(actor, str) else ""),
        details=details,
    )


def _editable_lists(membership: Membership, lists: Iterable[ContactList]) -> list[ContactList]:
    lists = list(lists)
    for contact_list in lists:
        if contact_list.organization_id != membership.organization_id:
            raise Http404
        require_perm(membership, "contacts.edit", contact_list)
    return lists


# --- Contacts -----------------------------------------------------------------------


@dataclass
class ContactInput:
    """What a person may set on a contact through a form or the API."""

    email: str
    last_name: str = ""
    first_name: str = ""
    company: str = ""
    phone: str = ""
    attributes: dict | None = None
    tags: list[str] | None = None
    lists: list[ContactList] | None = None
    consent_method: str = ConsentMethod.WEB_FORM
    consent_evidence: str = ""
    consent_at: object = None


@transaction.atomic
def create_contact(membership: Membership, data: ContactInput, request=None) -> Contact:
    """Add one contact. Refuses a suppressed address, a duplicate, and going over the
    organisation's ``max_contacts``."""
    require_perm(membership, "contacts.edit")
    organization = lock_organization(membership.organization_id)
    email = _email_or_error(data.email)
    suppression = active_suppression(organization.pk, email)
    if suppression is not None:
        raise ValidationError(
            {
                "email": _("%(email)s is on the suppression list (%(reason)s) and cannot be added.")
                % {"email": email, "reason": suppression.get_reason_display()}
            }
        )
    if find_contact(organization.pk, email) is not None:
        raise ValidationError({"email": _("A contact with this address already exists.")})
    if Contact.objects.for_organization(organization).count() >= organization.max_contacts:
        raise ValidationError(
            _("Your plan allows %(max)s contacts; delete some or ask to raise the limit.")
            % {"max": organization.max_contacts}
        )
    lists = _editable_lists(membership, data.lists or [])
    attributes = clean_attributes(organization.pk, data.attributes or {})
    if data.consent_method not in ConsentMethod.values:
        raise ValidationError({"consent_method": _("Choose how consent was obtained.")})
    now = timezone.now()
    contact = Contact(
        organization=organization,
        email=email,
        last_name=data.last_name.strip(),
        first_name=data.first_name.strip(),
        company=data.company.strip(),
        phone=data.phone.strip(),
        attributes=attributes,
        consent_method=data.consent_method,
        consent_evidence=data.consent_evidence.strip(),
        consent_at=data.consent_at or now,
        created_at=now,
        updated_at=now,
    )
    contact.full_clean(exclude=["tags", "lists"], validate_unique=False)
    contact.save()
    contact.tags.set(
        _tags(organization.pk, data.tags or []),
        through_defaults={"organization_id": organization.pk},
    )
    for contact_list in lists:
        ListMembership.objects.create(
            organization=organization,
            contact=contact,
            contact_list=contact_list,
            added_by=membership.user,
        )
    _event(contact, ContactEventKind.CREATED, membership.user, lists=[c.name for c in lists])
    record(
        Action.CONTACT_CREATED,
        actor=membership.user,
        organization=organization,
        target=contact,
        request=request,
    )
    return contact


@transaction.atomic
def update_contact(
    membership: Membership, contact: Contact, data: ContactInput, request=None
) -> list[str]:
    """Change a contact the person may edit; returns the names of the changed fields.

    Lists the person cannot change keep their membership untouched. A new address must
    be free and not suppressed. The status is not changed here (see ``suppress_address``).
    """
    contact = get_contact_for_member(membership, contact.pk, "contacts.edit")
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    changed = []
    email = _email_or_error(data.email)
    if email != contact.email:
        if email.lower() != contact.email.lower():
            if active_suppression(contact.organization_id, email) is not None:
                raise ValidationError(
                    {"email": _("%(email)s is on the suppression list.") % {"email": email}}
                )
            if find_contact(contact.organization_id, email) is not None:
                raise ValidationError({"email": _("A contact with this address already exists.")})
        contact.email = email
        changed.append("email")
    for field in ("last_name", "first_name", "company", "phone", "consent_evidence"):
        value = (getattr(data, field) or "").strip()
        if value != getattr(contact, field):
            setattr(contact, field, value)
            changed.append(field)
    if data.consent_method != contact.consent_method:
        if data.consent_method not in ConsentMethod.values:
            raise ValidationError({"consent_method": _("Choose how consent was obtained.")})
        contact.consent_method = data.consent_method
        changed.append("consent_method")
    if data.attributes is not None:
        attributes = clean_attributes(contact.organization_id, data.attributes)
        # Values of fields no longer defined stay stored (see docs/contacts.md).
        defined = set(
            CustomField.objects.for_organization(contact.organization_id).values_list(
                "key", flat=True
            )
        )
        merged = {k: v for k, v in contact.attributes.items() if k not in defined}
        merged.update(attributes)
        if merged != contact.attributes:
            contact.attributes = merged
            changed.append("attributes")
    if data.tags is not None:
        tags = _tags(contact.organization_id, data.tags)
        if {t.pk for t in tags} != set(contact.tags.values_list("pk", flat=True)):
            contact.tags.set(tags, through_defaults={"organization_id": contact.organization_id})
            changed.append("tags")
    if data.lists is not None:
        changed += _set_lists(membership, contact, data.lists)
    if not changed:
        return []
    contact.updated_at = timezone.now()
    contact.full_clean(exclude=["tags", "lists"], validate_unique=False)
    contact.save()
    _event(contact, ContactEventKind.UPDATED, membership.user, fields=changed)
    record(
        Action.CONTACT_UPDATED,
        actor=membership.user,
        organization=contact.organization,
        target=contact,
        request=request,
        fields=changed,
    )
    return changed


def _set_lists(membership: Membership, contact: Contact, wanted: list[ContactList]) -> list[str]:
    """A list the contact left through the preference page is neither re-added (that
    would resubscribe them) nor removed (the row is the record of their choice)."""
    editable = {cl.pk: cl for cl in visible_lists(membership, "contacts.edit")}
    wanted_ids = {cl.pk for cl in _editable_lists(membership, wanted)}
    current = set(contact.memberships.values_list("contact_list_id", flat=True))
    subscribed = set(contact.memberships.subscribed().values_list("contact_list_id", flat=True))
    added = [editable[pk] for pk in wanted_ids - current if pk in editable]
    removed = [editable[pk] for pk in (subscribed & set(editable)) - wanted_ids]
    for contact_list in added:
        ListMembership.objects.create(
            organization_id=contact.organization_id,
            contact=contact,
            contact_list=contact_list,
            added_by=membership.user,
        )
        _event(contact, ContactEventKind.LIST_ADDED, membership.user, list=contact_list.name)
    for contact_list in removed:
        ListMembership.objects.filter(contact=contact, contact_list=contact_list).delete()
        _event(contact, ContactEventKind.LIST_REMOVED, membership.user, list=contact_list.name)
    return ["lists"] if added or removed else []


@transaction.atomic
def delete_contact(membership: Membership, contact: Contact, request=None) -> None:
    """Delete a contact the person may edit. Its suppression (if any) stays."""
    contact = get_contact_for_member(membership, contact.pk, "contacts.edit")
    organization = contact.organization
    email, pk = contact.email, contact.pk
    contact.delete()
    record(
        Action.CONTACT_DELETED,
        actor=membership.user,
        organization=organization,
        target=None,
        request=request,
        contact_id=pk,
        email=email,
    )


# --- Suppressions --------------------------------------------------------------------


def add_suppression(
    organization: Organization,
    address: str,
    reason: str,
    *,
    source: str,
    actor=None,
    request=None,
) -> Suppression:
    """Suppress ``address`` (idempotent: an active suppression is returned as it is).

    The matching contact, if any, takes the corresponding status. For the system doors
    (bounces, complaints, unsubscribe links) as well as people.
    """
    if reason not in SuppressionReason.values:
        raise ValidationError(_("Unknown suppression reason."))
    address = normalise_email(address).address
    with transaction.atomic():
        existing = active_suppression(organization.pk, address)
        if existing is not None:
            return existing
        suppression = Suppression.objects.create(
            organization=organization,
            address=address,
            reason=reason,
            source=source[:300],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        contact = find_contact(organization.pk, address)
        if contact is not None:
            status = SUPPRESSION_STATUS[reason]
            if contact.status != status:
                contact.status = status
                contact.updated_at = timezone.now()
                contact.save(update_fields=["status", "updated_at"])
            _event(contact, ContactEventKind.SUPPRESSED, actor, reason=reason, source=source)
        record(
            Action.SUPPRESSION_ADDED,
            actor=actor,
            organization=organization,
            target=suppression,
            request=request,
            reason=reason,
            source=source,
        )
    return suppression


def suppress_address(
    membership: Membership, address: str, reason: str = SuppressionReason.MANUAL, request=None
) -> Suppression:
    """A person stops mail to an address (needs ``contacts.edit``)."""
    require_perm(membership, "contacts.edit")
    try:
        normalise_email(address)
    except InvalidEmail as error:
        raise ValidationError({"address": str(error)}) from None
    return add_suppression(
        membership.organization,
        address,
        reason,
        source=_("by %(email)s") % {"email": membership.user.email},
        actor=membership.user,
        request=request,
    )


@transaction.atomic
def lift_suppression(
    membership: Membership, suppression: Suppression, reason: str, request=None
) -> Suppression:
    """Only admins (``suppressions.lift``), and only with a reason. The matching contact,
    if any, becomes subscribed again."""
    require_perm(membership, "suppressions.lift", suppression)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why this address may receive mail again.")})
    suppression = Suppression.objects.select_for_update().get(pk=suppression.pk)
    if suppression.lifted_at is not None:
        return suppression
    suppression.lifted_at = timezone.now()
    suppression.lifted_by = membership.user
    suppression.lift_reason = reason
    suppression.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    contact = find_contact(suppression.organization_id, suppression.address)
    if contact is not None:
        if contact.status != ContactStatus.SUBSCRIBED:
            contact.status = ContactStatus.SUBSCRIBED
            contact.updated_at = timezone.now()
            contact.save(update_fields=["status", "updated_at"])
        _event(contact, ContactEventKind.SUPPRESSION_LIFTED, membership.user, reason=reason)
    record(
        Action.SUPPRESSION_LIFTED,
        actor=membership.user,
        organization=suppression.organization,
        target=suppression,
        request=request,
        reason=reason,
        suppressed_for=suppression.reason,
    )
    return suppression


def is_suppressed(organization: Organization, address: str) -> bool:
    """For every sending door: is this address on the organisation's suppression list?"""
    try:
        address = normalise_email(address).address
    except InvalidEmail:
        return True
    return active_suppression(organization.pk, address) is not None


# --- Lists and grants ---------------------------------------------------------------


def _unique_list_name(organization_id: int, name: str, excluding=None) -> str:
    """The stripped name, or ``ValidationError`` if empty or taken (case-insensitively)
    by another list of the organisation."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the list a name.")})
    others = ContactList.objects.for_organization(organization_id)
    if excluding is not None:
        others = others.exclude(pk=excluding.pk)
    if others.annotate(key=Lower("name")).filter(key=name.lower()).exists():
        raise ValidationError({"name": _("A list with this name already exists.")})
    return name


@transaction.atomic
def create_list(
    membership: Membership,
    name: str,
    description: str = "",
    is_restricted: bool = False,
    request=None,
) -> ContactList:
    require_perm(membership, "contacts.edit")
    if is_restricted:
        require_perm(membership, "grants.manage")
    name = _unique_list_name(membership.organization_id, name)
    contact_list = ContactList.objects.create(
        organization=membership.organization,
        name=name,
        description=description.strip(),
        is_restricted=is_restricted,
        created_by=membership.user,
    )
    record(
        Action.CONTACT_LIST_CREATED,
        actor=membership.user,
        organization=membership.organization,
        target=contact_list,
        request=request,
        restricted=is_restricted,
    )
    return contact_list


@transaction.atomic
def update_list(
    membership: Membership,
    contact_list: ContactList,
    *,
    name: str,
    description: str,
    is_restricted: bool,
    request=None,
) -> ContactList:
    require_perm(membership, "contacts.edit", contact_list)
    changes = {}
    name = _unique_list_name(membership.organization_id, name, excluding=contact_list)
    if name != contact_list.name:
        changes["name"] = [contact_list.name, name]
        contact_list.name = name
    if description.strip() != contact_list.description:
        changes["description"] = True
        contact_list.description = description.strip()
    if is_restricted != contact_list.is_restricted:
        require_perm(membership, "grants.manage")
        changes["restricted"] = [contact_list.is_restricted, is_restricted]
        contact_list.is_restricted = is_restricted
    if changes:
        contact_list.save()
        record(
            Action.CONTACT_LIST_CHANGED,
            actor=membership.user,
            organization=membership.organization,
            target=contact_list,
            request=request,
            changes=changes,
        )
    return contact_list


@transaction.atomic
def delete_list(membership: Membership, contact_list: ContactList, request=None) -> None:
    """Delete the list (its contacts stay). Needs edit rights on the list."""
    require_perm(membership, "contacts.edit", contact_list)
    name, pk = contact_list.name, contact_list.pk
    contact_list.delete()
    record(
        Action.CONTACT_LIST_DELETED,
        actor=membership.user,
        organization=membership.organization,
        request=request,
        list_id=pk,
        name=name,
    )


@transaction.atomic
def change_list_members(
    membership: Membership,
    contact_list: ContactList,
    *,
    add: Iterable[Contact] = (),
    remove: Iterable[Contact] = (),
    request=None,
) -> tuple[int, int]:
    """Add or remove contacts the person can see and edit; returns ``(added, removed)``.

    A contact who left the list through the preference page is neither added back nor
    removed: their membership row stays as the record of that choice.
    """
    require_perm(membership, "contacts.edit", contact_list)
    editable = visible_contacts(membership, "contacts.edit")
    add_ids = set(editable.filter(pk__in=[c.pk for c in add]).values_list("pk", flat=True))
    remove_ids = set(editable.filter(pk__in=[c.pk for c in remove]).values_list("pk", flat=True))
    rows = ListMembership.objects.filter(
        contact_list=contact_list, contact_id__in=add_ids | remove_ids
    )
    present = set(rows.values_list("contact_id", flat=True))
    unsubscribed = set(
        rows.filter(unsubscribed_at__isnull=False).values_list("contact_id", flat=True)
    )
    added = removed = 0
    for contact in Contact.objects.filter(pk__in=add_ids - present):
        ListMembership.objects.create(
            organization_id=contact_list.organization_id,
            contact=contact,
            contact_list=contact_list,
            added_by=membership.user,
        )
        _event(contact, ContactEventKind.LIST_ADDED, membership.user, list=contact_list.name)
        added += 1
    for contact in Contact.objects.filter(pk__in=(remove_ids & present) - unsubscribed):
        ListMembership.objects.filter(contact=contact, contact_list=contact_list).delete()
        _event(contact, ContactEventKind.LIST_REMOVED, membership.user, list=contact_list.name)
        removed += 1
    if added or removed:
        record(
            Action.CONTACT_LIST_MEMBERS_CHANGED,
            actor=membership.user,
            organization=membership.organization,
            target=contact_list,
            request=request,
            added=added,
            removed=removed,
        )
    return added, removed


def subscribed_lists(contact: Contact) -> QuerySet[ContactList]:
    """The lists of the contact's organisation the contact is a subscribed member of
    (what the preference page offers to leave), by name.

    Restricted lists are left out: the page is public, and a restricted list's name is
    for the people granted it (its members are kept from the rest of the organisation),
    not for the recipient. Leaving every mail stays possible on the page."""
    return (
        ContactList.objects.for_organization(contact.organization_id)
        .filter(is_restricted=False)
        .filter(
            Exists(
                ListMembership.objects.subscribed().filter(
                    contact_id=contact.pk, contact_list=OuterRef("pk")
                )
            )
        )
        .order_by(Lower("name"), "pk")
    )


@transaction.atomic
def leave_lists(
    contact: Contact, list_ids: Iterable[int], *, actor_label: str
) -> list[ContactList]:
    """The contact leaves the lists ``list_ids`` (their own choice, from a message).

    Only lists of the contact's organisation the contact is a subscribed member of are
    left; the caller refuses anything else before calling (ids that are not such a list
    are ignored here). The membership row stays with ``unsubscribed_at`` set, so no
    import, upsert or form puts the person back. Returns the lists left, by name; a
    repeated call returns ``[]``. Each one is written to the contact's history.
    """
    memberships = list(
        ListMembership.objects.for_organization(contact.organization_id)
        .subscribed()
        .select_for_update(of=("self",))
        .filter(contact_id=contact.pk, contact_list_id__in=list(list_ids))
        .select_related("contact_list")
        .order_by("pk")
    )
    now = timezone.now()
    for membership in memberships:
        # One save per row, not update(): the caller writes the one audit entry.
        membership.unsubscribed_at = now
        membership.save(update_fields=["unsubscribed_at"])
    left = sorted((m.contact_list for m in memberships), key=lambda cl: (cl.name.lower(), cl.pk))
    for contact_list in left:
        _event(contact, ContactEventKind.LIST_UNSUBSCRIBED, actor_label, list=contact_list.name)
    return left


GRANT_NONE, GRANT_VIEW, GRANT_EDIT = "none", "view", "edit"
GRANT_LEVELS = (GRANT_NONE, GRANT_VIEW, GRANT_EDIT)
_VIEW_CODENAME = GRANT_CODENAMES["contacts.view"].split(".", 1)[1]
_EDIT_CODENAME = GRANT_CODENAMES["contacts.edit"].split(".", 1)[1]


def grant_level(user, contact_list: ContactList) -> str:
    perms = set(get_perms(user, contact_list))
    if _EDIT_CODENAME in perms:
        return GRANT_EDIT
    if _VIEW_CODENAME in perms:
        return GRANT_VIEW
    return GRANT_NONE


def list_grants(contact_list: ContactList) -> list[tuple[Membership, str]]:
    """Every active member of the list's organisation with their grant level on it."""
    from guardian.models import UserObjectPermission

    rows = UserObjectPermission.objects.filter(
        content_type__app_label="contacts",
        content_type__model="contactlist",
        object_pk=str(contact_list.pk),
    ).values_list("user_id", "permission__codename")
    levels: dict[int, str] = {}
    for user_id, codename in rows:
        if codename == _EDIT_CODENAME:
            levels[user_id] = GRANT_EDIT
        elif codename == _VIEW_CODENAME and levels.get(user_id) != GRANT_EDIT:
            levels[user_id] = GRANT_VIEW
    members = (
        Membership.objects.for_organization(contact_list.organization_id)
        .active()
        .select_related("user")
        .order_by("user__email")
    )
    return [(m, levels.get(m.user_id, GRANT_NONE)) for m in members]


@transaction.atomic
def set_list_grant(
    membership: Membership,
    contact_list: ContactList,
    target: Membership,
    level: str,
    request=None,
) -> str:
    """Give ``target`` view or view-and-edit access to a list, or take it away (admins:
    ``grants.manage``). Returns the previous level."""
    require_perm(membership, "grants.manage", contact_list)
    if target.organization_id != membership.organization_id:
        raise Http404
    if level not in GRANT_LEVELS:
        raise ValidationError(_("Unknown access level."))
    before = grant_level(target.user, contact_list)
    if before == level:
        return before
    for codename in (_VIEW_CODENAME, _EDIT_CODENAME):
        remove_perm(codename, target.user, contact_list)
    if level in (GRANT_VIEW, GRANT_EDIT):
        assign_perm(_VIEW_CODENAME, target.user, contact_list)
    if level == GRANT_EDIT:
        assign_perm(_EDIT_CODENAME, target.user, contact_list)
    record(
        Action.CONTACT_LIST_GRANT_CHANGED,
        actor=membership.user,
        organization=membership.organization,
        target=contact_list,
        request=request,
        email=target.user.email,
        before=before,
        after=level,
    )
    return before


def grant_to_role(
    membership: Membership, contact_list: ContactList, role: str, level: str, request=None
) -> int:
    """Set ``level`` for every current active member with ``role`` (people who join later
    are not included: grants are per person). Returns how many grants changed."""
    require_perm(membership, "grants.manage", contact_list)
    if role not in Role.values:
        raise ValidationError(_("Unknown role %(role)s.") % {"role": role})
    changed = 0
    members = Membership.objects.for_organization(membership.organization_id).active()
    for target in members.filter(role=role).select_related("user"):
        if set_list_grant(membership, contact_list, target, level, request) != level:
            changed += 1
    return changed


# --- Custom fields ------------------------------------------------------------------


def _clean_choices(field_type: str, choices) -> list[str]:
    if field_type != FieldType.CHOICE:
        return []
    cleaned = list(dict.fromkeys(c.strip() for c in choices or [] if c and c.strip()))
    if not cleaned:
        raise ValidationError({"choices": _("A choice field needs at least one choice.")})
    return cleaned


@transaction.atomic
def create_custom_field(
    membership: Membership, *, key: str, label: str, field_type: str, choices=None, request=None
) -> CustomField:
    require_perm(membership, "org.manage")
    if field_type not in FieldType.values:
        raise ValidationError({"field_type": _("Unknown field type.")})
    field = CustomField(
        organization=membership.organization,
        key=key.strip(),
        label=label.strip(),
        field_type=field_type,
        choices=_clean_choices(field_type, choices),
    )
    field.full_clean(exclude=["organization"])
    if CustomField.objects.for_organization(membership.organization).filter(key=field.key):
        raise ValidationError({"key": _("A field with this key already exists.")})
    field.save()
    record(
        Action.CUSTOM_FIELD_CHANGED,
        actor=membership.user,
        organization=membership.organization,
        target=field,
        request=request,
        operation="created",
        key=field.key,
        field_type=field_type,
    )
    return field


@transaction.atomic
def update_custom_field(
    membership: Membership, field: CustomField, *, label: str, choices=None, request=None
) -> CustomField:
    """Change the label (and choices). The key and type never change: stored values and
    CSV headers depend on them."""
    require_perm(membership, "org.manage", field)
    field.label = label.strip()
    field.choices = _clean_choices(field.field_type, choices)
    field.full_clean(exclude=["organization"])
    field.save()
    record(
        Action.CUSTOM_FIELD_CHANGED,
        actor=membership.user,
        organization=membership.organization,
        target=field,
        request=request,
        operation="updated",
        key=field.key,
    )
    return field


@transaction.atomic
def delete_custom_field(membership: Membership, field: CustomField, request=None) -> None:
    """Remove the definition. Stored values stay (hidden) and reappear if a field with
    the same key is defined again."""
    require_perm(membership, "org.manage", field)
    key = field.key
    field.delete()
    record(
        Action.CUSTOM_FIELD_CHANGED,
        actor=membership.user,
        organization=membership.organization,
        request=request,
        operation="deleted",
        key=key,
    )
