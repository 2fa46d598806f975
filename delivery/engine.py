"""The per-recipient send engine.

Life of a campaign's recipients (DESIGN.md "Delivery"):

1. ``dispatch_due_campaigns`` (Celery beat, every few seconds) claims one due campaign
   at a time with ``SELECT ... FOR UPDATE SKIP LOCKED`` (so any number of dispatchers
   may run), lets campaigns move it to ``sending`` (which re-checks approval, undo
   window, fingerprint and drift), checks the monthly quota *before* anything is queued,
   and freezes the recipients into ``Delivery`` rows with one set-based
   ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (unique per campaign and address;
   suppressed addresses are already left out by the audience).
2. After commit, one Celery task per recipient is published, in batches.
3. ``send_one`` claims its row atomically (queued -> sending: a row anyone else claimed
   or already sent is never sent again, whatever the broker redelivers), re-checks the
   campaign (paused, cancelled) and the suppression list, renders, builds, signs and
   sends, and records the reply.
4. ``maintain`` (Celery beat) re-publishes rows whose retry time came, re-publishes rows
   left queued by a lost task, turns rows stuck in ``sending`` (a crash between the
   relay's accept and our commit) into ``unknown`` — never re-sent automatically — and
   marks finished campaigns sent.

No ETA or countdown longer than a second or two is ever given to Celery: retry times
live in the database (``next_attempt_at``).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from audit import record
from audit.enums import Action
from campaigns import dispatch
from campaigns.enums import CampaignState
from campaigns.models import Campaign, SenderProfile
from campaigns.rendering import RenderError, contact_data, render_for_contact
from contacts.enums import SuppressionReason
from contacts.models import Contact, Suppression
from contacts.services import active_suppression, add_suppression
from delivery import mime, tracking
from delivery.enums import DeliveryStatus
from delivery.models import Delivery, SendingDomain
from delivery.services import domain_of, relay_for
from delivery.signing import SigningKey, sign
from delivery.smtp import RelaySettings, pool

logger = logging.getLogger(__name__)

# Seconds to wait before each retry after a temporary (4xx) failure.
RETRY_BACKOFF = (60, 300, 900, 3600, 3 * 3600)
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1
# Permanent failures that mean "this address does not work" (suppressed as hard bounces).
# Policy refusals (5.7.x: spam, authentication) are about the message, not the address.
_HARD_BOUNCE = re.compile(r"^5\.(1\.\d+|2\.1)\b")


@dataclass(frozen=True)
class Outcome:
    status: str  # the delivery's status after this attempt, or "skipped_claim"
    detail: str = ""


# --- 1. Dispatch ----------------------------------------------------------------------


def _month_start(organization) -> timezone.datetime:
    now = timezone.localtime(timezone=timezone.zoneinfo.ZoneInfo(organization.time_zone))
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def sends_this_month(organization) -> int:
    """Messages counted against ``monthly_send_limit``: every recipient frozen this
    calendar month (organisation's time zone) except those never attempted."""
    return (
        Delivery.objects.filter(
            organization=organization, queued_at__gte=_month_start(organization)
        )
        .exclude(
            status__in=[DeliveryStatus.CANCELLED, DeliveryStatus.SKIPPED, DeliveryStatus.SUPPRESSED]
        )
        .count()
    )


class QuotaExceeded(Exception):
    def __init__(self, needed: int, remaining: int):
        super().__init__(f"needs {needed}, {remaining} left this month")
        self.needed = needed
        self.remaining = remaining


def freeze_recipients(campaign: Campaign) -> int:
    """Insert one queued ``Delivery`` per audience address; returns how many rows exist."""
    contacts = dispatch.audience_for_sending(campaign).order_by().values("id", "email")
    if connection.vendor == "postgresql":
        # The subquery is the ORM's own SQL for the audience, with its parameters
        # passed separately: nothing from user input is pasted into the statement.
        subquery, params = contacts.query.sql_with_params()
        statement = (
            "INSERT INTO delivery_delivery (organization_id, campaign_id, contact_id, "  # noqa: S608
            "address, token, status, attempts, queued_at) "
            "SELECT %s, %s, c.id, c.email, replace(gen_random_uuid()::text, '-', ''), "
            f"'queued', 0, now() FROM ({subquery}) AS c "
            "ON CONFLICT (campaign_id, address) DO NOTHING"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [campaign.organization_id, campaign.pk, *params])
    else:
        # SQLite (``make run`` without PostgreSQL): the same rows, built in Python.
        batch = []
        for row in contacts.iterator(chunk_size=2000):
            batch.append(
                Delivery(
                    organization_id=campaign.organization_id,
                    campaign=campaign,
                    contact_id=row["id"],
                    address=row["email"],
                    token=uuid.uuid4().hex,
                )
            )
            if len(batch) >= 2000:
                Delivery.objects.bulk_create(batch, ignore_conflicts=True)
                batch = []
        Delivery.objects.bulk_create(batch, ignore_conflicts=True)
    return Delivery.objects.filter(campaign=campaign).count()


def dispatch_due_campaigns(now=None) -> list[int]:
    """Start every due campaign; returns the ids started. Safe to run concurrently."""
    started: list[int] = []
    seen: set[int] = set()
    while True:
        campaign_id = _dispatch_one(now, seen)
        if campaign_id is None:
            break
        seen.add(campaign_id)
        if campaign_id > 0:
            started.append(campaign_id)
            from delivery.tasks import enqueue_deliveries

            enqueue_deliveries.delay(campaign_id, 0)
    return started


def _dispatch_one(now, seen: set[int]) -> int | None:
    """Claim and freeze one campaign. Returns its id (negative when it did not start),
    or None when nothing is due."""
    try:
        with transaction.atomic():
            campaign = (
                dispatch.due_campaigns(now)
                .exclude(pk__in=seen)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("organization")
                .first()
            )
            if campaign is None:
                return None
            if not dispatch.claim_for_sending(campaign, now=now):
                return -campaign.pk
            campaign.refresh_from_db()
            already = sends_this_month(campaign.organization)
            count = freeze_recipients(campaign)
            limit = campaign.organization.monthly_send_limit
            if already + count > limit:
                # Roll the claim and the rows back: a campaign starts whole or not at all.
                raise QuotaExceeded(count, max(limit - already, 0))
            record(
                Action.CAMPAIGN_DISPATCHED,
                actor=None,
                organization=campaign.organization,
                target=campaign,
                recipients=count,
                sends_this_month=already + count,
                monthly_send_limit=limit,
            )
            return campaign.pk
    except QuotaExceeded as exceeded:
        dispatch.hold_for_quota(campaign, needed=exceeded.needed, remaining=exceeded.remaining)
        return -campaign.pk


def publish(deliveries: list[tuple[int, int]]) -> None:
    """One ``send_delivery`` task per ``(delivery id, organisation id)``: the task enters
    that organisation's scope (``accounts.tenancy``) before it reads anything."""
    from delivery.tasks import send_delivery

    with send_delivery.app.producer_or_acquire() as producer:
        for delivery_id, organization_id in deliveries:
            send_delivery.apply_async((delivery_id, organization_id), producer=producer)


def enqueue_batch(campaign_id: int, after_id: int, size: int = 1000) -> int | None:
    """Publish one task per queued row with id > ``after_id``; returns the last id
    published when there may be more, else None."""
    rows = list(
        Delivery.objects.filter(
            campaign_id=campaign_id,
            status=DeliveryStatus.QUEUED,
            pk__gt=after_id,
            next_attempt_at__isnull=True,
        )
        .order_by("pk")
        .values_list("pk", "organization_id")[:size]
    )
    publish(rows)
    return rows[-1][0] if len(rows) == size else None


# --- 3. One recipient -----------------------------------------------------------------


@dataclass
class _CampaignContext:
    campaign: Campaign
    profile: SenderProfile
    keys: list[SigningKey]
    relay_key: str
    relay: RelaySettings
    loaded_at: float


_contexts: dict[int, _CampaignContext] = {}
_CONTEXT_TTL = 15.0


def _campaign_context(campaign_id: int) -> _CampaignContext:
    """The campaign, its sender profile, signing keys and relay, cached briefly per
    process (the content is frozen by its approval; state is read separately)."""
    cached = _contexts.get(campaign_id)
    if cached is not None and time.monotonic() - cached.loaded_at < _CONTEXT_TTL:
        return cached
    campaign = Campaign.objects.select_related("organization", "layout").get(pk=campaign_id)
    profile = SenderProfile.for_organization(campaign.organization_id)
    domain = SendingDomain.objects.filter(
        organization_id=campaign.organization_id, domain=domain_of(campaign.from_address)
    ).first()
    keys = []
    if domain is not None and domain.is_verified:
        keys.append(SigningKey(domain.domain, domain.rsa_selector, "rsa", domain.rsa_private_key))
        if domain.ed25519_selector:
            keys.append(
                SigningKey(
                    domain.domain, domain.ed25519_selector, "ed25519", domain.ed25519_private_key
                )
            )
    relay, relay_settings = relay_for(campaign.organization)
    relay_key = f"{relay.pk}" if relay else "platform"
    context = _CampaignContext(campaign, profile, keys, relay_key, relay_settings, time.monotonic())
    _contexts[campaign_id] = context
    return context


_states: dict[int, tuple[str | None, float]] = {}
# A pause or cancel reaches every worker within this many seconds.
_STATE_TTL = 2.0


def _campaign_state(campaign_id: int) -> str | None:
    """The campaign's state, re-read at most every ``_STATE_TTL`` seconds per process."""
    cached = _states.get(campaign_id)
    if cached is not None and time.monotonic() - cached[1] < _STATE_TTL:
        return cached[0]
    state = Campaign.objects.filter(pk=campaign_id).values_list("state", flat=True).first()
    _states[campaign_id] = (state, time.monotonic())
    return state


def _finish(delivery_id: int, status: str, **fields) -> None:
    Delivery.objects.filter(pk=delivery_id).update(status=status, **fields)


def build_message(
    campaign: Campaign,
    profile: SenderProfile,
    keys: list[SigningKey],
    contact: dict,
    address: str,
    token: str,
    *,
    test: bool = False,
) -> bytes:
    """Render, track, build and sign the exact bytes for one recipient."""
    unsubscribe = tracking.unsubscribe_url(token)
    rendered = render_for_contact(
        campaign, contact, unsubscribe_url=unsubscribe, profile=profile, test=test
    )
    html = tracking.rewrite_links(rendered.html, token, keep=(unsubscribe,))
    html = tracking.add_open_pixel(html, token)
    domain = domain_of(rendered.from_address)
    envelope = mime.Envelope(
        to_address=address,
        message_id=f"{token}@{domain}",
        date=timezone.now(),
        unsubscribe_https=unsubscribe,
        unsubscribe_mailto=tracking.unsubscribe_mailto(token),
        list_id=f"<c{campaign.pk}.o{campaign.organization_id}.{settings.BOUNCE_DOMAIN}>",
        feedback_id=f"{campaign.pk}:{campaign.organization_id}:tayori",
    )
    message = mime.build(
        subject=rendered.subject,
        html=html,
        text=rendered.text,
        from_name=rendered.from_name,
        from_address=rendered.from_address,
        reply_to=rendered.reply_to,
        charset=rendered.charset,
        envelope=envelope,
    )
    return sign(message, keys) if keys else message


def _rate_limited(relay_key: str, rate: int, address: str) -> bool:
    """Fixed one-second windows in the shared cache (Redis in production)."""
    second = int(time.time())
    limits = [(f"rate:relay:{relay_key}:{second}", rate)]
    domain_rate = settings.DELIVERY_DOMAIN_RATES.get(domain_of(address))
    if domain_rate:
        limits.append((f"rate:domain:{domain_of(address)}:{second}", domain_rate))
    for key, limit in limits:
        if not limit:
            continue
        cache.add(key, 0, timeout=5)
        try:
            if cache.incr(key) > limit:
                return True
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=5)
    return False


_CLAIM = """
WITH claimed AS (
    UPDATE {delivery} SET status = %s, claimed_at = %s, attempts = attempts + 1
    WHERE id = %s AND status = %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
    RETURNING id, organization_id, campaign_id, contact_id, address, token
)
SELECT claimed.id, claimed.organization_id, claimed.campaign_id, claimed.contact_id,
       claimed.address, claimed.token, c.email, c.last_name, c.first_name, c.company,
       c.phone, c.attributes,
       EXISTS (SELECT 1 FROM {suppression} s
               WHERE s.organization_id = claimed.organization_id
                 AND s.lifted_at IS NULL AND lower(s.address) = lower(claimed.address))
FROM claimed LEFT JOIN {contact} c ON c.id = claimed.contact_id
"""


@functools.cache
def _claim_statement() -> str:
    return _CLAIM.format(
        delivery=Delivery._meta.db_table,
        contact=Contact._meta.db_table,
        suppression=Suppression._meta.db_table,
    )


def _claim(delivery_id: int, now) -> tuple[Delivery, Contact | None, bool] | None:
    """Claim a queued row (queued -> sending, atomically) and read what sending it needs:
    the row, its contact and whether its address is suppressed now. ``None`` when the
    row is not there to claim (sent, claimed by another task, not due yet).

    On PostgreSQL this is one statement (``UPDATE ... RETURNING`` joined with the
    contact and the suppression check): a message's database work is two round trips,
    this and the outcome."""
    if connection.vendor != "postgresql":
        return _claim_portable(delivery_id, now)
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_statement(),
            [DeliveryStatus.SENDING, now, delivery_id, DeliveryStatus.QUEUED, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    (pk, organization_id, campaign_id, contact_id, address, token) = row[:6]
    delivery = Delivery(
        pk=pk,
        organization_id=organization_id,
        campaign_id=campaign_id,
        contact_id=contact_id,
        address=address,
        token=token,
        status=DeliveryStatus.SENDING,
    )
    contact = None
    if contact_id is not None:
        attributes = row[11]
        contact = Contact(
            pk=contact_id,
            organization_id=organization_id,
            email=row[6],
            last_name=row[7],
            first_name=row[8],
            company=row[9],
            phone=row[10],
            attributes=json.loads(attributes) if isinstance(attributes, str) else attributes,
        )
        delivery.contact = contact
    return delivery, contact, row[12]


def _claim_portable(delivery_id: int, now) -> tuple[Delivery, Contact | None, bool] | None:
    # SQLite (``make run``): the same claim in three statements.
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("contact").get(pk=delivery_id)
    suppressed = active_suppression(delivery.organization_id, delivery.address) is not None
    return delivery, delivery.contact, suppressed


def send_one(delivery_id: int) -> Outcome:
    """Send one frozen recipient, at most once. See the module docstring."""
    now = timezone.now()
    claimed = _claim(delivery_id, now)
    if claimed is None:
        return Outcome("skipped_claim")
    delivery, contact, suppressed = claimed
    state = _campaign_state(delivery.campaign_id)
    if state == CampaignState.CANCELLED:
        _finish(delivery_id, DeliveryStatus.CANCELLED)
        return Outcome(DeliveryStatus.CANCELLED)
    if state != CampaignState.SENDING:
        # Paused (or not started): hand the row back untouched, due at once, so the
        # maintenance job re-publishes it within seconds of a resume.
        _finish(delivery_id, DeliveryStatus.QUEUED, attempts=F("attempts") - 1, next_attempt_at=now)
        return Outcome(DeliveryStatus.QUEUED, "campaign not sending")
    if suppressed:
        _finish(delivery_id, DeliveryStatus.SUPPRESSED)
        return Outcome(DeliveryStatus.SUPPRESSED)
    if contact is None:
        _finish(delivery_id, DeliveryStatus.SKIPPED, error="The contact was deleted.")
        return Outcome(DeliveryStatus.SKIPPED)
    try:
        context = _campaign_context(delivery.campaign_id)
    except Exception as error:  # any fault before the hand-over: see _pause_for_fault
        return _pause_for_fault(delivery, error)
    if not context.keys:
        return _pause_for_relay(delivery, "The From domain is not verified: nothing is signed.")
    relay_settings = context.relay
    if _rate_limited(context.relay_key, relay_settings.rate_per_second, delivery.address):
        _finish(delivery_id, DeliveryStatus.QUEUED, attempts=F("attempts") - 1)
        from delivery.tasks import send_delivery

        send_delivery.apply_async((delivery_id, delivery.organization_id), countdown=1)
        return Outcome(DeliveryStatus.QUEUED, "rate limited")
    try:
        message = build_message(
            context.campaign,
            context.profile,
            context.keys,
            contact_data(contact),
            delivery.address,
            delivery.token,
        )
    except (RenderError, mime.MessageBuildError) as error:
        _finish(delivery_id, DeliveryStatus.FAILED, error=str(error)[:2000])
        return Outcome(DeliveryStatus.FAILED, str(error))
    except Exception as error:  # any fault before the hand-over: see _pause_for_fault
        return _pause_for_fault(delivery, error)
    result = pool().send(
        relay_settings, tracking.return_path(delivery.token), delivery.address, message
    )
    return _record_result(
        delivery, result, message_id=f"{delivery.token}@{domain_of(context.campaign.from_address)}"
    )


def _record_result(delivery: Delivery, result, *, message_id: str) -> Outcome:
    now = timezone.now()
    reply = (result.message or "")[:2000]
    if result.status == "sent":
        # The common outcome, once per message: a plain statement rather than a queryset
        # compiled each time (same columns as _finish would write).
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Delivery._meta.db_table} SET status = %s, sent_at = %s, "  # noqa: S608 - a table name from the model, values bound
                "smtp_code = %s, smtp_response = %s, message_id = %s, error = '' WHERE id = %s",
                [
                    DeliveryStatus.SENT,
                    connection.ops.adapt_datetimefield_value(now),
                    result.code,
                    reply,
                    message_id,
                    delivery.pk,
                ],
            )
        return Outcome(DeliveryStatus.SENT)
    if result.status == "unknown":
        _finish(
            delivery.pk,
            DeliveryStatus.UNKNOWN,
            smtp_response=reply,
            message_id=message_id,
            error="The connection broke after the message was sent.",
        )
        return Outcome(DeliveryStatus.UNKNOWN)
    if result.status == "tls":
        return _pause_for_relay(delivery, reply)
    if result.status == "temporary":
        attempts = Delivery.objects.values_list("attempts", flat=True).get(pk=delivery.pk)
        if attempts < MAX_ATTEMPTS:
            _finish(
                delivery.pk,
                DeliveryStatus.QUEUED,
                smtp_code=result.code,
                smtp_response=reply,
                next_attempt_at=now + timedelta(seconds=RETRY_BACKOFF[attempts - 1]),
            )
            return Outcome(DeliveryStatus.QUEUED, reply)
        _finish(
            delivery.pk,
            DeliveryStatus.FAILED,
            smtp_code=result.code,
            smtp_response=reply,
            error="Temporary failures until the retry limit.",
        )
        _check_breaker(delivery.campaign_id)
        return Outcome(DeliveryStatus.FAILED, reply)
    # permanent
    _finish(
        delivery.pk,
        DeliveryStatus.FAILED,
        smtp_code=result.code,
        smtp_response=reply,
        bounced_at=now,
    )
    if _HARD_BOUNCE.match(reply) or (result.code in (550, 551, 553) and not reply.startswith("5.")):
        suppress_for_bounce(delivery, reply)
    _check_breaker(delivery.campaign_id)
    return Outcome(DeliveryStatus.FAILED, reply)


def suppress_for_bounce(delivery: Delivery, reply: str) -> None:
    from delivery.models import DeliveryEvent

    DeliveryEvent.objects.create(
        organization_id=delivery.organization_id,
        delivery=delivery,
        kind="hard_bounce",
        detail=reply[:2000],
    )
    organization = Campaign.objects.get(pk=delivery.campaign_id).organization
    add_suppression(
        organization,
        delivery.address,
        SuppressionReason.HARD_BOUNCE,
        source=f"bounce: {reply[:200]}",
    )
    record(
        Action.SUPPRESSED_BY_BOUNCE,
        actor=None,
        organization=organization,
        target=delivery.contact,
        address=delivery.address,
        reply=reply[:300],
        campaign_id=delivery.campaign_id,
    )


def _pause_for_relay(delivery: Delivery, reason: str) -> Outcome:
    """TLS refused, certificate not valid, domain not verified: configuration problems.
    The row goes back to the queue unattempted and the campaign pauses (audited, admins
    alerted); resuming re-publishes it."""
    return _requeue_and_pause(delivery, Action.RELAY_OUTAGE, reason)


def _pause_for_fault(delivery: Delivery, error: Exception) -> Outcome:
    """An unexpected error after the claim and before anything reached the relay (a key
    that no longer decrypts, a bug): left as it was, the row would stay ``sending`` and
    become ``unknown``, though nothing was sent. It goes back to the queue unattempted
    and the campaign pauses (audited, people told); the error is logged in full."""
    logger.exception("delivery %s: could not prepare the message", delivery.pk)
    reason = f"The message could not be prepared: {type(error).__name__}: {error}"
    return _requeue_and_pause(delivery, Action.SENDING_FAULT, reason)


def _requeue_and_pause(delivery: Delivery, action: Action, reason: str) -> Outcome:
    _finish(
        delivery.pk, DeliveryStatus.QUEUED, attempts=F("attempts") - 1, smtp_response=reason[:2000]
    )
    dispatch.pause_by_system(
        Campaign.objects.get(pk=delivery.campaign_id), action=action, reason=reason
    )
    _states.pop(delivery.campaign_id, None)
    return Outcome(DeliveryStatus.QUEUED, reason)


def _check_breaker(campaign_id: int) -> None:
    counts = dict(
        Delivery.objects.filter(
            campaign_id=campaign_id, status__in=[DeliveryStatus.SENT, DeliveryStatus.FAILED]
        )
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    sent, failed = counts.get(DeliveryStatus.SENT, 0), counts.get(DeliveryStatus.FAILED, 0)
    attempted = sent + failed
    threshold = settings.DELIVERY_BREAKER_FAILURE_PERCENT
    if attempted >= settings.DELIVERY_BREAKER_MIN_SENDS and failed * 100 > threshold * attempted:
        dispatch.pause_by_system(
            Campaign.objects.get(pk=campaign_id),
            action=Action.CIRCUIT_BREAKER_TRIPPED,
            reason=f"{failed} of {attempted} sends failed (over {threshold}%).",
        )
        _states.pop(campaign_id, None)


# --- 4. Maintenance -------------------------------------------------------------------


def maintain(now=None) -> dict:
    """Periodic housekeeping (see the module docstring); returns counts for the log.

    ``DELIVERY_LOST_QUEUED_AFTER`` (seconds): a queued row nobody claimed for this long
    lost its task (a worker died holding it); it is published again (harmless if the
    old task turns up too: the claim is atomic). ``DELIVERY_STUCK_SENDING_AFTER``: a row
    claimed this long ago and still ``sending`` belongs to a dead worker that may have
    handed the message to the relay; it becomes ``unknown``.
    """
    now = now or timezone.now()
    lost_after = timedelta(seconds=settings.DELIVERY_LOST_QUEUED_AFTER)
    stuck_after = timedelta(seconds=settings.DELIVERY_STUCK_SENDING_AFTER)
    sending = Campaign.objects.filter(state=CampaignState.SENDING)
    due_retry = list(
        Delivery.objects.filter(
            campaign__in=sending, status=DeliveryStatus.QUEUED, next_attempt_at__lte=now
        ).values_list("pk", "organization_id")[:5000]
    )
    lost = list(
        Delivery.objects.filter(
            campaign__in=sending,
            status=DeliveryStatus.QUEUED,
            next_attempt_at__isnull=True,
            queued_at__lte=now - lost_after,
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - lost_after))
        .values_list("pk", "organization_id")[:5000]
    )
    publish(due_retry + lost)
    stuck = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lte=now - stuck_after
    ).update(
        status=DeliveryStatus.UNKNOWN,
        error="The worker stopped between sending and recording: check before re-sending.",
    )
    finished = 0
    for campaign in sending.filter(
        ~Q(deliveries__status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING])
    ):
        if dispatch.mark_sent(campaign, now=now):
            finished += 1
    return {"retried": len(due_retry), "lost": len(lost), "unknown": stuck, "sent": finished}
