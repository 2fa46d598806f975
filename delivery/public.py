"""What recipients reach from a message: open pixel, click redirects, unsubscribe and the
preference page (leave some lists, or stop all mail from the organisation).

Public (no login, no session needed) and tenant-safe by construction: each URL names one
delivery by its 128-bit random token. Nothing here redirects anywhere a signed link did
not name.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.net import client_ip
from audit import record
from audit.enums import Action
from contacts import services as contacts_services
from contacts.enums import SuppressionReason
from contacts.models import ContactList, ListMembership
from contacts.services import add_suppression
from delivery.enums import EventKind
from delivery.models import Delivery, DeliveryEvent

# Opens fetched within this time of sending are almost always a security scanner or a
# prefetching proxy, not a person.
MACHINE_OPEN_WINDOW = timedelta(seconds=10)
_SCANNER_AGENTS = re.compile(
    r"barracuda|mimecast|proofpoint|symantec|trendmicro|fireeye|bot\b|crawler|python-requests",
    re.IGNORECASE,
)
TOKEN_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def find_delivery(token: str) -> Delivery | None:
    if not TOKEN_PATTERN.match(token or ""):
        return None
    return Delivery.objects.select_related("campaign", "contact").filter(token=token).first()


def _event(delivery: Delivery, kind: str, request, **fields) -> DeliveryEvent:
    return DeliveryEvent.objects.create(
        organization_id=delivery.organization_id,
        delivery=delivery,
        kind=kind,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        **fields,
    )


def _is_machine(delivery: Delivery, request) -> bool:
    agent = request.META.get("HTTP_USER_AGENT", "")
    if _SCANNER_AGENTS.search(agent):
        return True
    return delivery.sent_at is not None and timezone.now() - delivery.sent_at < MACHINE_OPEN_WINDOW


def record_open(delivery: Delivery, request) -> None:
    machine = _is_machine(delivery, request)
    _event(delivery, EventKind.OPEN, request, is_machine=machine)
    if not machine:
        Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(
            opened_at=timezone.now()
        )


def record_click(delivery: Delivery, url: str, request) -> None:
    machine = _is_machine(delivery, request)
    _event(delivery, EventKind.CLICK, request, url=url, is_machine=machine)
    if not machine:
        now = timezone.now()
        Delivery.objects.filter(pk=delivery.pk, clicked_at__isnull=True).update(clicked_at=now)
        # A click implies the message was opened, even with images blocked.
        Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=True).update(opened_at=now)


@transaction.atomic
def unsubscribe(delivery: Delivery, request, *, one_click: bool) -> None:
    """Suppress the delivery's address for its organisation (idempotent; audited once)."""
    locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.unsubscribed_at is not None:
        return
    locked.unsubscribed_at = timezone.now()
    locked.save(update_fields=["unsubscribed_at"])
    _event(locked, EventKind.UNSUBSCRIBE, request, detail="one-click" if one_click else "page")
    organization = delivery.campaign.organization
    add_suppression(
        organization,
        locked.address,
        SuppressionReason.UNSUBSCRIBED,
        source=f"unsubscribe link, campaign {delivery.campaign_id}"
        + (" (one-click)" if one_click else ""),
    )
    record(
        Action.UNSUBSCRIBED,
        actor=locked.address,
        organization=organization,
        target=delivery.contact,
        request=request,
        campaign_id=delivery.campaign_id,
        one_click=one_click,
    )


class PreferenceError(Exception):
    """A preference-page request that changes nothing; ``str()`` is the message shown."""


def preference_lists(delivery: Delivery) -> list[ContactList]:
    """The lists the delivery's contact may leave from its page: those of the delivery's
    organisation the contact is a subscribed member of, by name. None if the contact
    has been deleted since."""
    if delivery.contact_id is None:
        return []
    return list(contacts_services.subscribed_lists(delivery.contact))


def _list_ids(raw: list[str]) -> list[int]:
    ids = []
    for value in raw:
        value = (value or "").strip()
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            raise PreferenceError(_("One of the chosen lists is not yours to change."))
        ids.append(int(value))
    return list(dict.fromkeys(ids))


@transaction.atomic
def leave_lists(delivery: Delivery, raw_ids: list[str], request) -> list[ContactList]:
    """The recipient leaves the ticked lists (``raw_ids``: the form's values, unchecked).

    Refuses (``PreferenceError``, nothing changed) nothing ticked, and any id that is not
    a list the delivery's contact belongs to in the delivery's organisation: garbage,
    another organisation's list, a list the contact is not on, a restricted list (the
    page never shows one). A list the contact has
    already left is accepted and left alone (a second submit of the same page). Returns
    the chosen lists by name. Lists newly left get one delivery event and one audit
    entry (actor: the address) between them; the address itself is not suppressed.
    """
    if not raw_ids:
        raise PreferenceError(_("Tick the lists you want to leave."))
    ids = _list_ids(raw_ids)
    contact = delivery.contact
    if contact is None:
        raise PreferenceError(_("One of the chosen lists is not yours to change."))
    own = set(
        ListMembership.objects.for_organization(delivery.organization_id)
        .filter(contact_id=contact.pk, contact_list_id__in=ids)
        .filter(contact_list__is_restricted=False)  # never offered: subscribed_lists
        .values_list("contact_list_id", flat=True)
    )
    if own != set(ids):
        raise PreferenceError(_("One of the chosen lists is not yours to change."))
    left = contacts_services.leave_lists(contact, ids, actor_label=delivery.address)
    if left:
        names = ", ".join(cl.name for cl in left)
        _event(delivery, EventKind.UNSUBSCRIBE, request, detail=f"lists: {names}")
        record(
            Action.LIST_UNSUBSCRIBED,
            actor=delivery.address,
            organization=delivery.campaign.organization,
            target=contact,
            request=request,
            campaign_id=delivery.campaign_id,
            lists=[{"id": cl.pk, "name": cl.name} for cl in left],
        )
    return list(
        ContactList.objects.for_organization(delivery.organization_id)
        .filter(pk__in=ids)
        .order_by(Lower("name"), "pk")
    )
