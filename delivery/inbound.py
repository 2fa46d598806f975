"""Mail that comes back: bounces (RFC 3464 DSNs), complaints (RFC 5965 ARF reports) and
mailto unsubscribes, received by an inbound SMTP endpoint (aiosmtpd).

Each message we send carries a VERP return path ``b+<token>@BOUNCE_DOMAIN`` and a
``mailto:unsubscribe+<token>@BOUNCE_DOMAIN``, so what comes back names its delivery
without trusting anything the message body claims. A hard bounce (permanent failure,
``5.x.x``) and a complaint suppress the address; a soft bounce is recorded only.
The endpoint accepts mail for BOUNCE_DOMAIN only (it is not a relay), offers STARTTLS
(senders on the internet choose whether to use it) and refuses everything else.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from email.message import Message

from django.conf import settings
from django.utils import timezone

from audit import record
from audit.enums import Action
from contacts.enums import SuppressionReason
from contacts.services import add_suppression
from delivery.enums import EventKind
from delivery.models import Delivery, DeliveryEvent

logger = logging.getLogger(__name__)
_ADDRESS = re.compile(r"^(b|unsubscribe)\+([0-9a-f]{32})@(.+)$", re.IGNORECASE)


def parse_recipient(address: str) -> tuple[str, str] | None:
    """``("bounce"|"unsubscribe", token)`` for one of our VERP addresses, else ``None``."""
    match = _ADDRESS.match((address or "").strip().strip("<>"))
    if match is None or match.group(3).lower() != settings.BOUNCE_DOMAIN.lower():
        return None
    kind = "bounce" if match.group(1).lower() == "b" else "unsubscribe"
    return kind, match.group(2).lower()


def accepts(address: str) -> bool:
    return parse_recipient(address) is not None


def _report_parts(message: Message, report_type: str) -> Message | None:
    if message.get_content_type() != "multipart/report":
        return None
    if (message.get_param("report-type") or "").lower() != report_type:
        return None
    return message


def _dsn_status(message: Message) -> tuple[str, str] | None:
    """``(status, diagnostic)`` of the first failed recipient of a DSN, else ``None``."""
    report = _report_parts(message, "delivery-status")
    if report is None:
        return None
    for part in report.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks[1:] if isinstance(blocks, list) else []:
            action = (block.get("Action") or "").strip().lower()
            status = (block.get("Status") or "").strip()
            if action in ("failed", "delayed") and status:
                return status, (block.get("Diagnostic-Code") or "").strip()
    return None


def _is_complaint(message: Message) -> bool:
    report = _report_parts(message, "feedback-report")
    if report is None:
        return False
    for part in report.walk():
        if part.get_content_type() == "message/feedback-report":
            blocks = part.get_payload()
            first = blocks[0] if isinstance(blocks, list) and blocks else None
            if first is not None and (first.get("Feedback-Type") or "").lower() in ("abuse", ""):
                return True
    return False


def _event(delivery: Delivery, kind: str, detail: str) -> None:
    DeliveryEvent.objects.create(
        organization_id=delivery.organization_id, delivery=delivery, kind=kind, detail=detail[:2000]
    )


def process(rcpt: str, raw: bytes) -> str:
    """Handle one received message for one of our addresses; returns what it did
    (``hard_bounce``, ``soft_bounce``, ``complaint``, ``unsubscribe``, ``ignored``)."""
    parsed = parse_recipient(rcpt)
    if parsed is None:
        return "ignored"
    kind, token = parsed
    delivery = (
        Delivery.objects.select_related("campaign__organization", "contact")
        .filter(token=token)
        .first()
    )
    if delivery is None:
        return "ignored"
    organization = delivery.campaign.organization
    if kind == "unsubscribe":
        if delivery.unsubscribed_at is None:
            Delivery.objects.filter(pk=delivery.pk).update(unsubscribed_at=timezone.now())
            _event(delivery, EventKind.UNSUBSCRIBE, "mailto")
            add_suppression(
                organization,
                delivery.address,
                SuppressionReason.UNSUBSCRIBED,
                source=f"mailto unsubscribe, campaign {delivery.campaign_id}",
            )
            record(
                Action.UNSUBSCRIBED,
                actor=delivery.address,
                organization=organization,
                target=delivery.contact,
                campaign_id=delivery.campaign_id,
                via="mailto",
            )
        return "unsubscribe"
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if _is_complaint(message):
        Delivery.objects.filter(pk=delivery.pk).update(complained_at=timezone.now())
        _event(delivery, EventKind.COMPLAINT, "ARF feedback report")
        add_suppression(
            organization,
            delivery.address,
            SuppressionReason.COMPLAINT,
            source=f"complaint (ARF), campaign {delivery.campaign_id}",
        )
        record(
            Action.SUPPRESSED_BY_COMPLAINT,
            actor=None,
            organization=organization,
            target=delivery.contact,
            address=delivery.address,
            campaign_id=delivery.campaign_id,
        )
        return "complaint"
    status = _dsn_status(message)
    if status is None:
        return "ignored"  # an auto-reply or anything else that is not a report
    code, diagnostic = status
    detail = f"{code} {diagnostic}".strip()
    if code.startswith("5."):
        Delivery.objects.filter(pk=delivery.pk).update(bounced_at=timezone.now())
        _event(delivery, EventKind.HARD_BOUNCE, detail)
        add_suppression(
            organization,
            delivery.address,
            SuppressionReason.HARD_BOUNCE,
            source=f"bounce: {detail[:200]}",
        )
        record(
            Action.SUPPRESSED_BY_BOUNCE,
            actor=None,
            organization=organization,
            target=delivery.contact,
            address=delivery.address,
            reply=detail[:300],
            campaign_id=delivery.campaign_id,
        )
        return "hard_bounce"
    _event(delivery, EventKind.SOFT_BOUNCE, detail)
    return "soft_bounce"


def _process_in_thread(rcpt: str, raw: bytes) -> str:
    """``process`` for the SMTP server's worker threads, which must not keep database
    connections open after their work (Django's are per thread)."""
    from django.db import connections

    try:
        return process(rcpt, raw)
    finally:
        connections.close_all()


class InboundHandler:
    """aiosmtpd handler: recipients outside our addresses are refused at RCPT."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not accepts(address):
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from asgiref.sync import sync_to_async

        raw = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            try:
                outcome = await sync_to_async(_process_in_thread, thread_sensitive=False)(rcpt, raw)
            except Exception:
                logger.exception("inbound: could not process a message for %s", rcpt)
                return "451 4.3.0 Could not process the message, try again later"
            logger.info("inbound: %s -> %s", rcpt, outcome)
        return "250 2.0.0 OK"
