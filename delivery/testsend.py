"""Test sends for campaigns: the same build, DKIM and STARTTLS path as a real send,
with no ``Delivery`` row and nothing counted against the quota."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.utils import timezone

from delivery import mime, tracking
from delivery.models import SendingDomain
from delivery.services import domain_of, relay_for
from delivery.signing import SigningKey, sign
from delivery.smtp import pool


def signing_keys(organization_id: int, from_address: str) -> list[SigningKey]:
    domain = SendingDomain.objects.filter(
        organization_id=organization_id, domain=domain_of(from_address)
    ).first()
    if domain is None or not domain.is_verified:
        return []
    keys = [SigningKey(domain.domain, domain.rsa_selector, "rsa", domain.rsa_private_key)]
    if domain.ed25519_selector:
        keys.append(
            SigningKey(
                domain.domain, domain.ed25519_selector, "ed25519", domain.ed25519_private_key
            )
        )
    return keys


def send_test_message(campaign, message, recipient: str):
    """``campaigns.hooks`` test sender (see its contract)."""
    from campaigns.hooks import TestSendResult

    keys = signing_keys(campaign.organization_id, message.from_address)
    if not keys:
        return TestSendResult(
            recipient,
            False,
            f"{domain_of(message.from_address)} is not a "
            "verified sending domain: nothing can be signed.",
        )
    token = "test" + secrets.token_hex(14)
    envelope = mime.Envelope(
        to_address=recipient,
        message_id=f"{token}@{domain_of(message.from_address)}",
        date=timezone.now(),
        unsubscribe_https=tracking.unsubscribe_url(token),
        unsubscribe_mailto=tracking.unsubscribe_mailto(token),
        list_id=f"<c{campaign.pk}.o{campaign.organization_id}.{settings.BOUNCE_DOMAIN}>",
        feedback_id=f"{campaign.pk}:{campaign.organization_id}:tayori-test",
    )
    try:
        raw = mime.build(
            subject=message.subject,
            html=message.html,
            text=message.text,
            from_name=message.from_name,
            from_address=message.from_address,
            reply_to=message.reply_to,
            charset=message.charset,
            envelope=envelope,
        )
    except mime.MessageBuildError as error:
        return TestSendResult(recipient, False, str(error))
    _relay, relay_settings = relay_for(campaign.organization)
    result = pool().send(relay_settings, tracking.return_path(token), recipient, sign(raw, keys))
    return TestSendResult(recipient, result.ok, f"{result.code or ''} {result.message}".strip())
