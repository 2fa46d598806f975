"""Telling people about a campaign: a line in their in-app list and an e-mail.

Approvers hear when a campaign awaits them (or is held for re-approval); the submitter
hears when it is approved, rejected, held, cancelled or its approval voided. E-mails go
out after the transaction commits (``robust``: a mail server that is down is logged and
never undoes the state change the e-mail was about).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.models import Membership
from accounts.roles import ROLE_PERMISSIONS
from campaigns.enums import NotificationKind
from campaigns.models import Campaign, Notification

logger = logging.getLogger(__name__)


def approvers_for(campaign: Campaign) -> list:
    """Active members who may approve ``campaign``: holding ``campaigns.approve`` and
    neither its submitter nor the last person to change its content."""
    roles = [role for role, perms in ROLE_PERMISSIONS.items() if "campaigns.approve" in perms]
    excluded = {campaign.submitted_by_id, campaign.content_changed_by_id} - {None}
    memberships = (
        Membership.objects.active()
        .filter(organization_id=campaign.organization_id, role__in=roles)
        .exclude(user_id__in=excluded)
        .select_related("user")
        .order_by("user__email")
    )
    return [m.user for m in memberships]


def _campaign_url(campaign: Campaign, kind: str) -> str:
    name = "campaigns:review" if kind in _FOR_APPROVERS else "campaigns:detail"
    path = reverse(name, args=[campaign.organization.slug, campaign.pk])
    return f"{settings.SITE_URL}{path}"


_FOR_APPROVERS = {NotificationKind.AWAITING_APPROVAL, NotificationKind.HELD}


def _send_email(notification_id: int) -> None:
    notification = (
        Notification.objects.select_related("user", "campaign__organization")
        .filter(pk=notification_id)
        .first()
    )
    if notification is None or not notification.user.is_active:
        return
    campaign = notification.campaign
    context = {
        "notification": notification,
        "campaign": campaign,
        "organization": campaign.organization,
        "url": _campaign_url(campaign, notification.kind),
    }
    with translation.override(translation.get_language() or settings.LANGUAGE_CODE):
        subject = render_to_string("emails/campaign_notification_subject.txt", context)
        text = render_to_string("emails/campaign_notification_body.txt", context)
        html = render_to_string("emails/campaign_notification_body.html", context)
    # Subjects are one line whatever a campaign's name holds.
    subject = " ".join(subject.split())
    message = EmailMultiAlternatives(subject, text, to=[notification.user.email])
    message.attach_alternative(html, "text/html")
    message.send()


def notify(
    campaign: Campaign, users: Iterable, kind: str, *, actor=None, comment: str = ""
) -> list[Notification]:
    """Add a notification for each of ``users`` and e-mail them after commit."""
    created = []
    seen = set()
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        created.append(
            Notification.objects.create(
                organization_id=campaign.organization_id,
                user=user,
                campaign=campaign,
                kind=kind,
                actor_label=getattr(actor, "email", "") or "",
                comment=comment,
            )
        )
    for notification in created:
        transaction.on_commit(lambda pk=notification.pk: _send_email(pk), robust=True)
    return created


def people_behind(campaign: Campaign) -> list:
    """The submitter and the creator (who hear about approval, rejection, holds)."""
    return [u for u in (campaign.submitted_by, campaign.created_by) if u is not None]
