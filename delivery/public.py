"""What recipients reach from a message: open pixel, click redirects, unsubscribe.

Public (no login, no session needed) and tenant-safe by construction: each URL names one
delivery by its 128-bit random token. Nothing here redirects anywhere a signed link did
not name.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.net import client_ip
from audit import record
from audit.enums import Action
from contacts.enums import SuppressionReason
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
