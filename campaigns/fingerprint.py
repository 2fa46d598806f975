"""The content fingerprint an approval binds to.

``content_snapshot`` is everything that decides what goes out and to whom: subject,
preheader, sender (From name and address, Reply-To, and the organisation's footer: its
sender name, postal address, complaints contact and footer language), both bodies, the
layout's content, the audience definition (lists and segment rule trees, as
``segments.services.audience_definition`` describes them), the schedule (UTC) and the
charset. ``content_fingerprint`` is the SHA-256 of its canonical JSON.

A change to any of them, through whatever door (the campaign editor, a layout, a segment,
the sender profile), gives a new fingerprint, and approvals of the old one no longer
count. The campaign's name is not in it: renaming changes nothing that goes out.
"""

from __future__ import annotations

import datetime
import hashlib
import json

from campaigns import audience
from campaigns.models import Campaign, SenderProfile


def _layout(campaign: Campaign) -> dict | None:
    layout = campaign.layout
    if layout is None:
        return None
    return {"id": layout.pk, "html": layout.html, "text": layout.text}


def content_snapshot(campaign: Campaign, profile: SenderProfile | None = None) -> dict:
    profile = profile or SenderProfile.for_organization(campaign.organization_id)
    send_at = campaign.send_at
    return {
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "from_name": campaign.from_name,
        "from_address": campaign.from_address,
        "reply_to": campaign.reply_to,
        "html_body": campaign.html_body,
        "text_body": campaign.text_body,
        "layout": _layout(campaign),
        "footer": {
            "sender_name": profile.sender_name,
            "postal_address": profile.postal_address,
            "complaints_contact": profile.complaints_contact,
            "language": profile.footer_language,
        },
        "audience": audience.definition(campaign),
        "send_at": send_at.astimezone(datetime.UTC).isoformat() if send_at else None,
        "charset": campaign.charset,
    }


def fingerprint_of(snapshot: dict) -> str:
    canonical = json.dumps(
        snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_fingerprint(campaign: Campaign, profile: SenderProfile | None = None) -> str:
    """SHA-256 (hex) over everything that goes out; see the module docstring."""
    return fingerprint_of(content_snapshot(campaign, profile))
