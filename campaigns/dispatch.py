"""What delivery's dispatcher calls (re-exported from ``campaigns.services``).

The dispatcher is a periodic Celery beat task in the delivery app. Per run, in one
transaction per campaign::

    with transaction.atomic():
        campaign = (
            services.due_campaigns()
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if campaign and services.claim_for_sending(campaign):
            ...freeze services.audience_for_sending(campaign) into Delivery rows...
    # dispatch the per-recipient tasks after commit

``claim_for_sending`` re-checks everything under that lock (state, undo window,
schedule, fingerprint, drift), so a campaign cancelled, edited or held a moment earlier
is never started. Per-recipient tasks call ``sending_allowed`` before each message
(pause and cancel take effect at the next recipient) and the dispatcher calls
``mark_sent`` when the last recipient is done.

System actions (claiming, holding, marking sent) are audited with no actor: they are
the platform's, not a person's.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import record
from audit.enums import Action
from campaigns import audience, notifications
from campaigns.enums import APPROVED_STATES, CampaignState, HoldReason, NotificationKind
from campaigns.fingerprint import content_fingerprint
from campaigns.models import Approval, Campaign, SenderProfile


def due_campaigns(now=None) -> QuerySet[Campaign]:
    """Campaigns delivery should start now, oldest approval first.

    Exactly those that are
    - ``approved`` or ``scheduled`` (every required approval given, not cancelled,
      not held, not edited since: an edit returns a campaign to draft), and
    - past their undo window (``undo_until <= now``), and
    - at or past their scheduled time (``send_at`` is empty, meaning as soon as
      approved, or ``send_at <= now``).

    Across every organisation; not locked. Lock rows with
    ``select_for_update(skip_locked=True)`` and pass each to ``claim_for_sending``,
    which checks the fingerprint and the drift before anything goes out.
    """
    now = now or timezone.now()
    return (
        Campaign.objects.filter(state__in=APPROVED_STATES, undo_until__lte=now)
        .filter(Q(send_at__isnull=True) | Q(send_at__lte=now))
        .order_by("approved_at", "pk")
    )


def _locked(campaign: Campaign) -> Campaign:
    return (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("organization", "layout", "submitted_by", "created_by")
        .get(pk=campaign.pk)
    )


def _system_audit(action, campaign: Campaign, **details) -> None:
    record(action, actor=None, organization=campaign.organization, target=campaign, **details)


def return_to_draft(
    campaign: Campaign, *, actor, reason: str, fingerprint: str, request=None
) -> Campaign:
    """Void every approval of ``campaign`` and make it a draft again (audited; its
    people told). The caller holds the row lock. ``actor`` is ``None`` for the system."""
    before = campaign.state
    voided = Approval.objects.filter(campaign=campaign, voided_at__isnull=True)
    approver_ids = list(voided.filter(decision="approved").values_list("approver_id", flat=True))
    count = voided.update(voided_at=timezone.now())
    campaign.state = CampaignState.DRAFT
    campaign.submitted_at = None
    campaign.submitted_fingerprint = ""
    campaign.approved_at = None
    campaign.approved_fingerprint = ""
    campaign.undo_until = None
    campaign.updated_at = timezone.now()
    campaign.save()
    record(
        Action.CAMPAIGN_APPROVALS_VOIDED,
        actor=actor,
        organization=campaign.organization,
        target=campaign,
        request=request,
        reason=str(reason),
        state_before=before,
        state=campaign.state,
        fingerprint=fingerprint,
        approvals_voided=count,
    )
    if before != CampaignState.DRAFT:
        from accounts.models import User

        people = notifications.people_behind(campaign) + list(
            User.objects.filter(pk__in=approver_ids)
        )
        notifications.notify(
            campaign,
            [u for u in people if actor is None or u.pk != actor.pk],
            NotificationKind.VOIDED,
            actor=actor,
            comment=str(reason),
        )
    return campaign


def drift_exceeds(approved: int | None, current: int, threshold_percent: int) -> bool:
    """Whether ``current`` is further than ``threshold_percent`` from ``approved``.

    Exactly the threshold is still fine (100 -> 110 at 10 %); anything beyond holds.
    From an approved count of zero, any recipient at all is beyond.
    """
    if approved is None:
        return True
    return abs(current - approved) * 100 > threshold_percent * approved or (
        approved == 0 and current != 0
    )


@transaction.atomic
def check_drift(campaign: Campaign) -> bool:
    """Recompute the audience count just before sending; hold the campaign if it moved.

    If the count differs from the approved count by more than the organisation's
    threshold (``SenderProfile.drift_threshold_percent``, default 10 %), the campaign
    becomes ``held``: both numbers are stored (``held_approved_count``, ``held_count``)
    and audited, every approval is voided, approvers and the submitter are told, and it
    needs approving again. Returns True when it held the campaign, False when the count
    is within the threshold (then nothing changes).

    Call it under the campaign's row lock (``claim_for_sending`` does).
    """
    campaign = _locked(campaign)
    profile = SenderProfile.for_organization(campaign.organization_id)
    try:
        current = audience.recipient_count(campaign)
    except ValueError:  # segments.services.AudienceError: hold rather than guess
        current = None
    if current is not None and not drift_exceeds(
        campaign.approved_count, current, profile.drift_threshold_percent
    ):
        return False
    comment = _("Approved for %(approved)s recipients; now %(current)s.") % {
        "approved": campaign.approved_count,
        "current": _("unknown (the audience could not be counted)") if current is None else current,
    }
    _hold(
        campaign,
        HoldReason.DRIFT,
        held_count=current,
        comment=comment,
        fingerprint=content_fingerprint(campaign, profile),
        approved_count=campaign.approved_count,
        current_count=current,
        threshold_percent=profile.drift_threshold_percent,
    )
    return True


def _hold(
    campaign: Campaign, reason: str, *, held_count, comment: str, held_remaining=None, **details
):
    """Held for re-approval (the caller holds the row lock): approvals voided, the
    numbers stored, audited without an actor, approvers and the submitter told."""
    now = timezone.now()
    before = campaign.state
    Approval.objects.filter(campaign=campaign, voided_at__isnull=True).update(voided_at=now)
    campaign.state = CampaignState.HELD
    campaign.held_at = now
    campaign.held_reason = reason
    campaign.held_count = held_count
    campaign.held_approved_count = campaign.approved_count
    campaign.held_remaining = held_remaining
    campaign.approved_at = None
    campaign.approved_fingerprint = ""
    campaign.undo_until = None
    campaign.updated_at = now
    campaign.save()
    _system_audit(
        Action.CAMPAIGN_HELD,
        campaign,
        reason=reason,
        state_before=before,
        state=campaign.state,
        **details,
    )
    notifications.notify(
        campaign,
        notifications.approvers_for(campaign) + notifications.people_behind(campaign),
        NotificationKind.HELD,
        comment=comment,
    )


@transaction.atomic
def hold_for_quota(campaign: Campaign, *, needed: int, remaining: int) -> bool:
    """Hold an approved campaign that would take the organisation over its monthly
    sending limit (``needed`` sends, ``remaining`` left this month), before anything
    goes out. Call it after the claim's transaction rolled back: the campaign must be
    ``approved`` or ``scheduled`` again; otherwise nothing changes and it returns False.

    Like a drift hold: approvals voided, both numbers stored and audited, approvers and
    the submitter told; it needs approving again (once the limit allows it).
    """
    campaign = _locked(campaign)
    if campaign.state not in APPROVED_STATES:
        return False
    _hold(
        campaign,
        HoldReason.QUOTA,
        held_count=needed,
        held_remaining=remaining,
        comment=_("It needs %(needed)s sends; %(remaining)s are left this month.")
        % {"needed": needed, "remaining": remaining},
        fingerprint=campaign.approved_fingerprint,
        needed=needed,
        remaining=remaining,
        monthly_send_limit=campaign.organization.monthly_send_limit,
    )
    return True


@transaction.atomic
def pause_by_system(campaign: Campaign, *, action, reason: str) -> bool:
    """``sending`` -> ``paused`` by the platform (relay outage, failure-rate breaker):
    audited as ``action`` with no actor and the ``reason``; the submitter, the creator
    and the approvers told. A person resumes it (``services.resume_campaign``). False
    (nothing changed) when the campaign is not sending."""
    campaign = _locked(campaign)
    if campaign.state != CampaignState.SENDING:
        return False
    campaign.state = CampaignState.PAUSED
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["state", "updated_at"])
    _system_audit(
        action,
        campaign,
        reason=str(reason),
        state_before=CampaignState.SENDING,
        state=campaign.state,
        fingerprint=campaign.approved_fingerprint,
    )
    notifications.notify(
        campaign,
        notifications.people_behind(campaign) + notifications.approvers_for(campaign),
        NotificationKind.PAUSED,
        comment=str(reason),
    )
    return True


@transaction.atomic
def claim_for_sending(campaign: Campaign, now=None) -> bool:
    """Move a due campaign to ``sending``; True means delivery may freeze its recipients.

    Under the row lock, refuses (returns False, changing nothing) a campaign that is no
    longer due (cancelled, edited, inside its undo window, before its time). A campaign
    whose content fingerprint no longer matches the approved one (a layout, segment or
    footer changed) goes back to draft; one whose audience drifted is held (see
    ``check_drift``). Both return False.
    """
    now = now or timezone.now()
    campaign = _locked(campaign)
    if campaign.state not in APPROVED_STATES:
        return False
    if campaign.undo_until is None or campaign.undo_until > now:
        return False
    if campaign.send_at is not None and campaign.send_at > now:
        return False
    fingerprint = content_fingerprint(campaign)
    if fingerprint != campaign.approved_fingerprint:
        return_to_draft(
            campaign,
            actor=None,
            reason=_("what it sends changed after approval"),
            fingerprint=fingerprint,
        )
        return False
    if check_drift(campaign):
        return False
    before = campaign.state
    campaign.state = CampaignState.SENDING
    campaign.sending_started_at = now
    campaign.updated_at = now
    campaign.save(update_fields=["state", "sending_started_at", "updated_at"])
    _system_audit(
        Action.CAMPAIGN_SENDING,
        campaign,
        state_before=before,
        state=campaign.state,
        fingerprint=fingerprint,
        approved_count=campaign.approved_count,
    )
    return True


@transaction.atomic
def mark_sent(campaign: Campaign, now=None) -> bool:
    """``sending`` -> ``sent`` once every recipient is done. False (nothing changed) for
    a campaign in any other state (paused, cancelled meanwhile)."""
    campaign = _locked(campaign)
    if campaign.state != CampaignState.SENDING:
        return False
    now = now or timezone.now()
    campaign.state = CampaignState.SENT
    campaign.sent_at = now
    campaign.updated_at = now
    campaign.save(update_fields=["state", "sent_at", "updated_at"])
    _system_audit(
        Action.CAMPAIGN_SENT,
        campaign,
        state_before=CampaignState.SENDING,
        state=campaign.state,
        fingerprint=campaign.approved_fingerprint,
    )
    return True


def sending_allowed(campaign_id: int) -> bool:
    """Whether the next recipient of this campaign may be sent now (False once it is
    paused or cancelled). Reads the database, never a cached object."""
    return Campaign.objects.filter(pk=campaign_id, state=CampaignState.SENDING).exists()


def audience_for_sending(campaign: Campaign):
    """Every contact the campaign goes to now (subscribed, not suppressed, de-duplicated,
    as ``segments.services.audience_contacts`` defines it), for freezing."""
    return audience.recipients(campaign, membership=None)
