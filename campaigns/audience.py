"""A campaign's audience, through ``segments.services`` (the one place that turns lists
and segments into contacts, applying subscription status and suppressions).

``membership`` limits the result to the contacts that person may see (previews and
samples shown to them); ``None`` is the whole audience (counts, sending).
"""

from __future__ import annotations

from django.db import DataError, transaction
from django.db.models import QuerySet

from campaigns.models import Campaign


def audience_arguments(campaign: Campaign) -> dict:
    """The keyword arguments ``segments.services.audience_*`` take for ``campaign``."""
    if campaign.pk is None:
        return {}
    return {
        "include_lists": list(campaign.include_lists.order_by("pk")),
        "exclude_lists": list(campaign.exclude_lists.order_by("pk")),
        "include_segments": list(campaign.include_segments.order_by("pk")),
        "exclude_segments": list(campaign.exclude_segments.order_by("pk")),
    }


def _services():
    from segments import services

    return services


def recipients(campaign: Campaign, membership=None) -> QuerySet:
    return _services().audience_contacts(
        campaign.organization, membership=membership, **audience_arguments(campaign)
    )


def find_recipient(campaign: Campaign, membership, contact_id: int):
    """The contact ``contact_id`` if it is in the audience and visible to ``membership``,
    else None (also when stored data the audience's rules cannot read gets in the way)."""
    try:
        with transaction.atomic():
            return recipients(campaign, membership).filter(pk=contact_id).first()
    except DataError:
        return None


def recipient_count(campaign: Campaign) -> int:
    """The exact number of people the campaign would go to now."""
    return _services().audience_count(campaign.organization, **audience_arguments(campaign))


def sample(campaign: Campaign, membership=None, n: int = 10) -> list:
    return list(
        _services().audience_sample(
            campaign.organization, membership=membership, n=n, **audience_arguments(campaign)
        )
    )


def definition(campaign: Campaign) -> dict:
    """Canonical, JSON-able description of who the campaign goes to (for the fingerprint)."""
    return _services().audience_definition(campaign.organization, **audience_arguments(campaign))
