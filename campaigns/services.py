"""The rules of campaigns: editing, the two-person approval workflow, test sends, layouts
and the sender profile; and what delivery calls (``campaigns.dispatch``, re-exported
here).

Plain functions taking the acting ``Membership``. Views, the admin and (later) the API
call these and nothing else, so every door obeys the same rules and writes the same
audit entries.

The approval rules
------------------
- The submitter of a campaign, and whoever last changed what goes out, can never approve
  (or reject) it, whatever their roles (``SelfApprovalError``; the database refuses an
  ``Approval`` whose approver is its submitter, too).
- An approval binds to ``content_fingerprint`` (see ``campaigns.fingerprint``). Any
  change of content voids every approval and returns the campaign to draft.
- ``Organization.approvals_required`` distinct people must approve the same fingerprint.
- Approving needs a clean pre-send check (no blocking finding) at that moment.
- After the last approval, nothing goes out before ``undo_until`` (the sender profile's
  undo window), during which the marketer or an approver can cancel.
"""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import has_perm, require_perm
from accounts.models import Membership
from audit import record
from audit.enums import Action
from campaigns import audience, hooks, notifications
from campaigns.checks import require_no_blocking, run_checks
from campaigns.dispatch import (  # noqa: F401 - the delivery-facing API, re-exported
    audience_for_sending,
    check_drift,
    claim_for_sending,
    due_campaigns,
    hold_for_quota,
    mark_sent,
    pause_by_system,
    return_to_draft,
    sending_allowed,
)
from campaigns.enums import (
    APPROVED_STATES,
    AWAITING_APPROVAL_STATES,
    CANCELLABLE_STATES,
    EDITABLE_STATES,
    CampaignState,
    Charset,
    Decision,
    NotificationKind,
)
from campaigns.fingerprint import content_fingerprint, content_snapshot
from campaigns.hooks import TestSendResult
from campaigns.models import Approval, Campaign, Layout, Notification, SenderProfile
from campaigns.rendering import (  # noqa: F401 - the delivery-facing API, re-exported
    SAMPLE_CONTACT,
    RenderedMessage,
    contact_data,
    render_for_contact,
)
from campaigns.templating import RenderError
from campaigns.validation import address_error, validate_campaign, validate_layout

MAX_TEST_RECIPIENTS = 10
CONTENT_FIELDS = (
    "subject",
    "preheader",
    "from_name",
    "from_address",
    "reply_to",
    "html_body",
    "text_body",
    "send_at",
    "charset",
)
AUDIENCE_FIELDS = ("include_lists", "exclude_lists", "include_segments", "exclude_segments")
DEFAULT_HTML_BODY = """<p>{{ contact.last_name }} 様</p>

<p></p>

{{ footer }}
"""


class SelfApprovalError(PermissionDenied):
    """The person asked to approve (or reject) a campaign they submitted or wrote."""


class TestSendUnavailable(ValidationError):
    """No test-send path is registered yet (the delivery app is not set up)."""

    __test__ = False  # not a pytest test class, despite its name


# --- Access ---------------------------------------------------------------------------


def get_campaign_for_member(
    membership: Membership, campaign_id, perm: str = "campaigns.view"
) -> Campaign:
    """One campaign of the member's organisation: 404 if it is not there, 403 without
    ``perm``."""
    campaign = (
        Campaign.objects.for_organization(membership.organization_id)
        .select_related("organization", "layout", "submitted_by", "created_by")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None:
        raise Http404
    require_perm(membership, perm, campaign)
    return campaign


def get_layout_for_member(membership: Membership, layout_id, perm: str = "campaigns.view"):
    layout = Layout.objects.for_organization(membership.organization_id).filter(pk=layout_id)
    layout = layout.first()
    if layout is None:
        raise Http404
    require_perm(membership, perm, layout)
    return layout


def _lock(campaign: Campaign) -> Campaign:
    return (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("organization", "layout")
        .get(pk=campaign.pk, organization_id=campaign.organization_id)
    )


def self_approval_refusal(user, campaign: Campaign) -> str | None:
    """Why ``user`` may not approve ``campaign`` as a matter of principle, or ``None``."""
    if campaign.submitted_by_id is not None and user.pk == campaign.submitted_by_id:
        return _("You submitted this campaign; someone else must approve it.")
    if campaign.content_changed_by_id is not None and user.pk == campaign.content_changed_by_id:
        return _("You made the last change to this campaign; someone else must approve it.")
    return None


def may_approve(membership: Membership, campaign: Campaign) -> bool:
    """Whether to offer ``membership`` the approve/reject buttons on ``campaign``."""
    return (
        has_perm(membership, "campaigns.approve", campaign)
        and campaign.state in AWAITING_APPROVAL_STATES
        and self_approval_refusal(membership.user, campaign) is None
        and not current_approvals(campaign).filter(approver=membership.user).exists()
    )


def may_cancel(membership: Membership, campaign: Campaign) -> bool:
    return campaign.state in CANCELLABLE_STATES and may_stop(membership, campaign)


def may_stop(membership: Membership, campaign: Campaign) -> bool:
    return has_perm(membership, "campaigns.edit", campaign) or has_perm(
        membership, "campaigns.approve", campaign
    )


def current_approvals(campaign: Campaign, fingerprint: str | None = None):
    """Approvals that count towards ``fingerprint`` (the campaign's current one)."""
    fingerprint = fingerprint or content_fingerprint(campaign)
    return Approval.objects.current().filter(campaign=campaign, fingerprint=fingerprint)


def _audit(action, membership_or_user, campaign: Campaign, request=None, **details):
    user = getattr(membership_or_user, "user", membership_or_user)
    record(
        action,
        actor=user,
        organization=campaign.organization,
        target=campaign,
        request=request,
        **details,
    )


# --- Editing --------------------------------------------------------------------------


@dataclass
class CampaignInput:
    """What a person may set on a campaign (the form's cleaned data)."""

    name: str
    subject: str = ""
    preheader: str = ""
    from_name: str = ""
    from_address: str = ""
    reply_to: str = ""
    html_body: str = ""
    text_body: str = ""
    layout: Layout | None = None
    include_lists: list = field(default_factory=list)
    exclude_lists: list = field(default_factory=list)
    include_segments: list = field(default_factory=list)
    exclude_segments: list = field(default_factory=list)
    send_at: datetime.datetime | None = None
    charset: str = Charset.UTF8


def _own(membership: Membership, objects: Iterable, what: str) -> list:
    objects = list(objects)
    for obj in objects:
        if obj.organization_id != membership.organization_id:
            raise ValidationError({what: _("Choose from your organisation's own.")})
    return objects


def _visible_lists(membership: Membership, lists: list, what: str) -> list:
    from contacts.services import visible_lists

    lists = _own(membership, lists, what)
    visible = set(visible_lists(membership).values_list("pk", flat=True))
    for contact_list in lists:
        if contact_list.pk not in visible:
            raise ValidationError(
                {what: _("You cannot use the list “%(name)s”.") % {"name": contact_list.name}}
            )
    return lists


def _apply(membership: Membership, campaign: Campaign, data: CampaignInput) -> None:
    campaign.name = data.name.strip()
    for name in CONTENT_FIELDS:
        value = getattr(data, name)
        if isinstance(value, str) and name not in ("html_body", "text_body"):
            value = value.strip()
        setattr(campaign, name, value)
    if data.layout is not None:
        _own(membership, [data.layout], "layout")
    campaign.layout = data.layout
    if not campaign.name:
        raise ValidationError({"name": _("Give the campaign a name.")})
    if data.charset not in Charset.values:
        raise ValidationError({"charset": _("Choose a character set.")})


def _set_audience(membership: Membership, campaign: Campaign, data: CampaignInput, old=None):
    old = old or {}
    for name in AUDIENCE_FIELDS:
        chosen = _own(membership, getattr(data, name), name)
        if name.endswith("_lists"):
            # A list the person cannot see may stay if it was already there (chosen by
            # someone who could), but not be added.
            keep = {obj.pk for obj in old.get(name, [])}
            added = [obj for obj in chosen if obj.pk not in keep]
            _visible_lists(membership, added, name)
        getattr(campaign, name).set(chosen)


def _audience_now(campaign: Campaign) -> dict:
    return {name: list(getattr(campaign, name).all()) for name in AUDIENCE_FIELDS}


@transaction.atomic
def create_campaign(membership: Membership, data: CampaignInput, request=None) -> Campaign:
    """A new draft. Validates like ``update_campaign``."""
    require_perm(membership, "campaigns.edit")
    now = timezone.now()
    campaign = Campaign(
        organization=membership.organization,
        created_by=membership.user,
        content_changed_by=membership.user,
        created_at=now,
        updated_at=now,
    )
    _apply(membership, campaign, data)
    validate_campaign(campaign)
    campaign.save()
    _set_audience(membership, campaign, data)
    fingerprint = content_fingerprint(campaign)
    _audit(Action.CAMPAIGN_CREATED, membership, campaign, request, fingerprint=fingerprint)
    return campaign


@transaction.atomic
def update_campaign(
    membership: Membership, campaign: Campaign, data: CampaignInput, request=None
) -> Campaign:
    """Change a campaign before it starts sending.

    A change to anything that goes out (the fingerprint moves) voids every approval and
    returns the campaign to draft, whatever state it was in. Renaming alone does not.
    Refuses a campaign that is sending, paused, sent or cancelled.
    """
    require_perm(membership, "campaigns.edit", campaign)
    campaign = _lock(campaign)
    if campaign.state not in EDITABLE_STATES:
        raise ValidationError(
            _("A campaign that is %(state)s cannot be changed; clone it instead.")
            % {"state": campaign.get_state_display().lower()}
        )
    before = content_fingerprint(campaign)
    old_audience = _audience_now(campaign)
    old_values = {name: getattr(campaign, name) for name in ("name", *CONTENT_FIELDS)}
    old_values["layout"] = campaign.layout_id
    _apply(membership, campaign, data)
    validate_campaign(campaign)
    campaign.updated_at = timezone.now()
    campaign.save()
    _set_audience(membership, campaign, data, old_audience)
    after = content_fingerprint(campaign)
    changed = [
        name
        for name, value in old_values.items()
        if name != "layout" and getattr(campaign, name) != value
    ]
    if old_values["layout"] != campaign.layout_id:
        changed.append("layout")
    changed += [
        name
        for name in AUDIENCE_FIELDS
        if {o.pk for o in old_audience[name]}
        != set(getattr(campaign, name).values_list("pk", flat=True))
    ]
    if after != before:
        campaign.content_changed_by = membership.user
        campaign.save(update_fields=["content_changed_by"])
    _audit(
        Action.CAMPAIGN_CHANGED,
        membership,
        campaign,
        request,
        fields=sorted(changed),
        fingerprint_before=before,
        fingerprint=after,
    )
    if after != before and (
        campaign.state != CampaignState.DRAFT
        or Approval.objects.current().filter(campaign=campaign).exists()
    ):
        return_to_draft(
            campaign,
            actor=membership.user,
            reason=_("edited after submission or approval"),
            fingerprint=after,
            request=request,
        )
    return campaign


@transaction.atomic
def clone_campaign(membership: Membership, campaign: Campaign, request=None) -> Campaign:
    """A new draft with the same content and audience (approvals are never copied)."""
    require_perm(membership, "campaigns.edit", campaign)
    now = timezone.now()
    copy = Campaign(
        organization=campaign.organization,
        name=(_("Copy of %(name)s") % {"name": campaign.name})[:200],
        layout=campaign.layout,
        created_by=membership.user,
        content_changed_by=membership.user,
        created_at=now,
        updated_at=now,
        cloned_from=campaign,
    )
    for name in CONTENT_FIELDS:
        setattr(copy, name, getattr(campaign, name))
    copy.save()
    for name in AUDIENCE_FIELDS:
        getattr(copy, name).set(getattr(campaign, name).all())
    _audit(
        Action.CAMPAIGN_CLONED,
        membership,
        copy,
        request,
        source_id=campaign.pk,
        fingerprint=content_fingerprint(copy),
    )
    return copy


# --- The workflow -----------------------------------------------------------------------


@transaction.atomic
def submit_campaign(membership: Membership, campaign: Campaign, request=None) -> Campaign:
    """Draft -> submitted. Refuses while the pre-send check has a blocking finding (the
    error lists them). Tells the approvers."""
    require_perm(membership, "campaigns.submit", campaign)
    campaign = _lock(campaign)
    if campaign.state != CampaignState.DRAFT:
        raise ValidationError(_("Only a draft can be submitted for approval."))
    validate_campaign(campaign)
    report = run_checks(campaign, spam=False)
    require_no_blocking(report)
    fingerprint = content_fingerprint(campaign)
    now = timezone.now()
    campaign.state = CampaignState.SUBMITTED
    campaign.submitted_by = membership.user
    campaign.submitted_at = now
    campaign.submitted_fingerprint = fingerprint
    campaign.rejection_comment = ""
    campaign.updated_at = now
    campaign.save()
    _audit(
        Action.CAMPAIGN_SUBMITTED,
        membership,
        campaign,
        request,
        state_before=CampaignState.DRAFT,
        state=campaign.state,
        fingerprint=fingerprint,
        recipient_count=report.recipient_count,
    )
    notifications.notify(
        campaign,
        notifications.approvers_for(campaign),
        NotificationKind.AWAITING_APPROVAL,
        actor=membership.user,
    )
    return campaign


@transaction.atomic
def withdraw_campaign(membership: Membership, campaign: Campaign, request=None) -> Campaign:
    """Submitted or held -> draft, by someone who may submit (to fix something)."""
    require_perm(membership, "campaigns.submit", campaign)
    campaign = _lock(campaign)
    if campaign.state not in AWAITING_APPROVAL_STATES:
        raise ValidationError(_("Only a campaign awaiting approval can be withdrawn."))
    before = campaign.state
    _void(campaign)
    campaign.state = CampaignState.DRAFT
    campaign.submitted_at = None
    campaign.submitted_fingerprint = ""
    campaign.updated_at = timezone.now()
    campaign.save()
    _audit(
        Action.CAMPAIGN_WITHDRAWN,
        membership,
        campaign,
        request,
        state_before=before,
        state=campaign.state,
        fingerprint=content_fingerprint(campaign),
    )
    return campaign


def _void(campaign: Campaign) -> int:
    return Approval.objects.filter(campaign=campaign, voided_at__isnull=True).update(
        voided_at=timezone.now()
    )


def _check_still_current(campaign: Campaign, fingerprint: str, expected: str | None):
    if expected and expected != fingerprint:
        raise ValidationError(
            _("The campaign changed while you were reviewing it. Review it again before deciding."),
            code="stale",
        )


def approve_campaign(
    membership: Membership,
    campaign: Campaign,
    *,
    comment: str = "",
    expected_fingerprint: str | None = None,
    request=None,
) -> Campaign:
    """One approval of the campaign as it is now.

    ``expected_fingerprint`` is the version the approver reviewed (the approval page
    sends it): if the campaign changed since, nothing is approved. Refuses the submitter
    and the last editor (``SelfApprovalError``, audited), a second approval by the same
    person, and a campaign whose pre-send check has a blocking finding. When
    ``approvals_required`` distinct people have approved this fingerprint the campaign
    becomes approved (or scheduled, with a send time), with the undo window ahead.
    """
    return _decide(
        "approve", _approve, membership, campaign, comment, expected_fingerprint, request
    )


def _decide(attempted, decide, membership, campaign, comment, expected_fingerprint, request):
    """Run an approval decision; a refused self-decision is audited, then re-raised."""
    try:
        return decide(membership, campaign, comment, expected_fingerprint, request)
    except SelfApprovalError:
        _audit(
            Action.CAMPAIGN_SELF_APPROVAL_REFUSED,
            membership,
            campaign,
            request,
            attempted=attempted,
            reason=self_approval_refusal(membership.user, campaign) or "",
        )
        raise


def _lock_for_decision(membership: Membership, campaign: Campaign) -> Campaign:
    """The campaign, locked, if ``membership`` may decide on it now: permission, state
    awaiting approval, and never the submitter's or last editor's own campaign."""
    require_perm(membership, "campaigns.approve", campaign)
    campaign = _lock(campaign)
    if campaign.state not in AWAITING_APPROVAL_STATES:
        raise ValidationError(_("This campaign is not awaiting approval."))
    refusal = self_approval_refusal(membership.user, campaign)
    if refusal is not None:
        raise SelfApprovalError(refusal)
    return campaign


@transaction.atomic
def _approve(membership, campaign, comment, expected_fingerprint, request) -> Campaign:
    campaign = _lock_for_decision(membership, campaign)
    fingerprint = content_fingerprint(campaign)
    _check_still_current(campaign, fingerprint, expected_fingerprint)
    if fingerprint != campaign.submitted_fingerprint:
        # Changed through a door other than the editor (a segment's rules, say).
        raise ValidationError(
            _(
                "What this campaign sends changed after it was submitted (for example a "
                "segment's rules). The marketer must check and submit it again."
            ),
            code="changed",
        )
    if current_approvals(campaign, fingerprint).filter(approver=membership.user).exists():
        raise ValidationError(_("You have already approved this version."))
    report = run_checks(campaign, spam=False)
    require_no_blocking(report)
    try:
        with transaction.atomic():
            Approval.objects.create(
                organization_id=campaign.organization_id,
                campaign=campaign,
                approver=membership.user,
                submitted_by_id=campaign.submitted_by_id,
                decision=Decision.APPROVED,
                fingerprint=fingerprint,
                recipient_count=report.recipient_count,
                comment=comment.strip(),
            )
    except IntegrityError:
        raise ValidationError(_("You have already approved this version.")) from None
    approvers = sorted(
        set(current_approvals(campaign, fingerprint).values_list("approver__email", flat=True))
    )
    required = campaign.organization.approvals_required
    _audit(
        Action.CAMPAIGN_APPROVAL_GIVEN,
        membership,
        campaign,
        request,
        fingerprint=fingerprint,
        comment=comment.strip(),
        approvals=len(approvers),
        approvals_required=required,
        recipient_count=report.recipient_count,
    )
    if len(approvers) < required:
        return campaign
    now = timezone.now()
    profile = SenderProfile.for_organization(campaign.organization_id)
    before = campaign.state
    campaign.state = CampaignState.SCHEDULED if campaign.send_at else CampaignState.APPROVED
    campaign.approved_at = now
    campaign.approved_fingerprint = fingerprint
    campaign.approved_count = report.recipient_count
    campaign.approved_snapshot = content_snapshot(campaign, profile)
    campaign.undo_until = now + datetime.timedelta(minutes=profile.undo_window_minutes)
    campaign.held_at = None
    campaign.held_reason = ""
    campaign.held_count = None
    campaign.held_approved_count = None
    campaign.held_remaining = None
    campaign.updated_at = now
    campaign.save()
    _audit(
        Action.CAMPAIGN_APPROVED,
        membership,
        campaign,
        request,
        state_before=before,
        state=campaign.state,
        fingerprint=fingerprint,
        approvers=approvers,
        recipient_count=report.recipient_count,
        undo_until=campaign.undo_until.isoformat(),
        send_at=campaign.send_at.isoformat() if campaign.send_at else None,
    )
    notifications.notify(
        campaign,
        notifications.people_behind(campaign),
        NotificationKind.APPROVED,
        actor=membership.user,
        comment=comment.strip(),
    )
    return campaign


def reject_campaign(
    membership: Membership,
    campaign: Campaign,
    *,
    comment: str,
    expected_fingerprint: str | None = None,
    request=None,
) -> Campaign:
    """Send the campaign back to draft with the approver's comment (required). Voids
    every approval. The submitter cannot reject their own campaign (they withdraw it)."""
    return _decide("reject", _reject, membership, campaign, comment, expected_fingerprint, request)


@transaction.atomic
def _reject(membership, campaign, comment, expected_fingerprint, request) -> Campaign:
    campaign = _lock_for_decision(membership, campaign)
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": _("Say what needs to change.")})
    fingerprint = content_fingerprint(campaign)
    _check_still_current(campaign, fingerprint, expected_fingerprint)
    _void(campaign)
    Approval.objects.create(
        organization_id=campaign.organization_id,
        campaign=campaign,
        approver=membership.user,
        submitted_by_id=campaign.submitted_by_id,
        decision=Decision.REJECTED,
        fingerprint=fingerprint,
        comment=comment,
    )
    now = timezone.now()
    before = campaign.state
    campaign.state = CampaignState.DRAFT
    campaign.rejection_comment = comment
    campaign.rejected_by = membership.user
    campaign.rejected_at = now
    campaign.submitted_at = None
    campaign.submitted_fingerprint = ""
    campaign.updated_at = now
    campaign.save()
    _audit(
        Action.CAMPAIGN_REJECTED,
        membership,
        campaign,
        request,
        state_before=before,
        state=campaign.state,
        fingerprint=fingerprint,
        comment=comment,
    )
    notifications.notify(
        campaign,
        notifications.people_behind(campaign),
        NotificationKind.REJECTED,
        actor=membership.user,
        comment=comment,
    )
    return campaign


@transaction.atomic
def cancel_campaign(membership: Membership, campaign: Campaign, request=None) -> Campaign:
    """Stop a campaign for good, at any point before sending completes: during the undo
    window, while scheduled, or while sending (delivery stops at the next recipient).
    The marketer (``campaigns.edit``) or an approver may do it."""
    if not may_stop(membership, campaign):
        raise PermissionDenied("campaigns.edit")
    campaign = _lock(campaign)
    if campaign.state not in CANCELLABLE_STATES:
        raise ValidationError(
            _("A campaign that is %(state)s cannot be cancelled.")
            % {"state": campaign.get_state_display().lower()}
        )
    now = timezone.now()
    before = campaign.state
    in_undo_window = (
        before in APPROVED_STATES and campaign.undo_until is not None and now < campaign.undo_until
    )
    campaign.state = CampaignState.CANCELLED
    campaign.cancelled_at = now
    campaign.cancelled_by = membership.user
    campaign.updated_at = now
    campaign.save()
    _audit(
        Action.CAMPAIGN_CANCELLED,
        membership,
        campaign,
        request,
        state_before=before,
        state=campaign.state,
        fingerprint=content_fingerprint(campaign),
        within_undo_window=in_undo_window,
    )
    people = notifications.people_behind(campaign)
    if before in APPROVED_STATES | AWAITING_APPROVAL_STATES:
        people += notifications.approvers_for(campaign)
    notifications.notify(
        campaign,
        [u for u in people if u.pk != membership.user_id],
        NotificationKind.CANCELLED,
        actor=membership.user,
    )
    return campaign


def _pause_or_resume(membership, campaign, request, *, pause: bool) -> Campaign:
    if not may_stop(membership, campaign):
        raise PermissionDenied("campaigns.edit")
    campaign = _lock(campaign)
    expected = CampaignState.SENDING if pause else CampaignState.PAUSED
    if campaign.state != expected:
        raise ValidationError(
            _("Only a sending campaign can be paused.")
            if pause
            else _("Only a paused campaign can be resumed.")
        )
    campaign.state = CampaignState.PAUSED if pause else CampaignState.SENDING
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["state", "updated_at"])
    _audit(
        Action.CAMPAIGN_PAUSED if pause else Action.CAMPAIGN_RESUMED,
        membership,
        campaign,
        request,
        state_before=expected,
        state=campaign.state,
        fingerprint=campaign.approved_fingerprint,
    )
    return campaign


@transaction.atomic
def pause_campaign(membership: Membership, campaign: Campaign, request=None) -> Campaign:
    """Sending -> paused (delivery checks ``sending_allowed`` before each recipient)."""
    return _pause_or_resume(membership, campaign, request, pause=True)


@transaction.atomic
def resume_campaign(membership: Membership, campaign: Campaign, request=None) -> Campaign:
    """Paused -> sending."""
    return _pause_or_resume(membership, campaign, request, pause=False)


# --- Test sends -------------------------------------------------------------------------


def allowed_test_addresses(membership: Membership) -> list[str]:
    """Members of the organisation and the admin-kept test addresses, lower-cased."""
    members = Membership.objects.active().filter(organization_id=membership.organization_id)
    addresses = {email.lower() for email in members.values_list("user__email", flat=True)}
    addresses.update(SenderProfile.for_organization(membership.organization_id).test_address_list())
    return sorted(addresses)


def _test_contact(membership: Membership, campaign: Campaign, contact_id) -> dict:
    if not contact_id:
        return dict(SAMPLE_CONTACT)
    contact = audience.find_recipient(campaign, membership, contact_id)
    if contact is None:
        raise ValidationError({"contact": _("Choose a contact of this campaign's audience.")})
    return contact_data(contact)


def send_test(
    membership: Membership,
    campaign: Campaign,
    recipients: Iterable[str],
    *,
    contact_id=None,
    request=None,
) -> list[TestSendResult]:
    """Send the campaign, rendered for one contact (or a sample person), with ``[TEST]``
    in the subject, to members of the organisation or its test addresses only.

    Goes through delivery's registered test sender (the real STARTTLS + DKIM path);
    without one, raises ``TestSendUnavailable``. Never counted as a send; audited.
    """
    require_perm(membership, "campaigns.test_send", campaign)
    sender = hooks.test_sender()
    if sender is None:
        raise TestSendUnavailable(
            _("Test sends are not available until sending domains are set up.")
        )
    wanted = list(dict.fromkeys(r.strip().lower() for r in recipients if r and r.strip()))
    if not wanted:
        raise ValidationError({"recipients": _("Choose at least one address.")})
    if len(wanted) > MAX_TEST_RECIPIENTS:
        raise ValidationError(
            {"recipients": _("At most %(n)s addresses per test.") % {"n": MAX_TEST_RECIPIENTS}}
        )
    allowed = set(allowed_test_addresses(membership))
    refused = [address for address in wanted if address not in allowed]
    if refused:
        raise ValidationError(
            {
                "recipients": _(
                    "Test sends go only to members of the organisation and its test "
                    "addresses; not to %(addresses)s."
                )
                % {"addresses": ", ".join(refused)}
            }
        )
    contact = _test_contact(membership, campaign, contact_id)
    try:
        message = render_for_contact(campaign, contact, test=True)
    except RenderError as error:
        raise ValidationError(str(error)) from None
    results = []
    for address in wanted:
        try:
            result = sender(campaign, message, address)
        except Exception as error:  # delivery's code: report the failure, keep going
            result = TestSendResult(recipient=address, ok=False, message=str(error))
        results.append(result)
    _audit(
        Action.CAMPAIGN_TEST_SENT,
        membership,
        campaign,
        request,
        recipients=wanted,
        results={r.recipient: ("ok" if r.ok else r.message) for r in results},
        contact_id=contact_id or None,
        fingerprint=content_fingerprint(campaign),
        state=campaign.state,
    )
    return results


# --- Layouts ----------------------------------------------------------------------------


def _unique_layout_name(layout: Layout) -> None:
    clash = (
        Layout.objects.for_organization(layout.organization_id)
        .filter(name__iexact=layout.name)
        .exclude(pk=layout.pk)
    )
    if clash.exists():
        raise ValidationError({"name": _("A layout with this name already exists.")})


@transaction.atomic
def create_layout(
    membership: Membership, *, name: str, html: str, text: str = "", request=None
) -> Layout:
    require_perm(membership, "campaigns.edit")
    now = timezone.now()
    layout = Layout(
        organization=membership.organization,
        name=name.strip(),
        html=html,
        text=text,
        created_by=membership.user,
        created_at=now,
        updated_at=now,
    )
    if not layout.name:
        raise ValidationError({"name": _("Give the layout a name.")})
    validate_layout(layout)
    _unique_layout_name(layout)
    layout.save()
    record(
        Action.LAYOUT_CREATED,
        actor=membership.user,
        organization=membership.organization,
        target=layout,
        request=request,
    )
    return layout


@transaction.atomic
def update_layout(
    membership: Membership, layout: Layout, *, name: str, html: str, text: str = "", request=None
) -> Layout:
    """Change a layout. Campaigns using it that await approval or are approved go back
    to draft (what they send changed), each audited and its people told."""
    require_perm(membership, "campaigns.edit", layout)
    layout = Layout.objects.select_for_update().get(pk=layout.pk)
    content_changed = (layout.html, layout.text) != (html, text)
    layout.name = name.strip()
    layout.html = html
    layout.text = text
    if not layout.name:
        raise ValidationError({"name": _("Give the layout a name.")})
    validate_layout(layout)
    _unique_layout_name(layout)
    layout.updated_at = timezone.now()
    layout.save()
    affected = []
    if content_changed:
        # Whoever changes a layout co-wrote every campaign using it: like an editor of
        # the campaign, they may not approve it.
        Campaign.objects.filter(layout=layout, state__in=EDITABLE_STATES).update(
            content_changed_by=membership.user
        )
        for campaign in Campaign.objects.filter(
            layout=layout, state__in=EDITABLE_STATES - {CampaignState.DRAFT}
        ).select_for_update():
            return_to_draft(
                campaign,
                actor=membership.user,
                reason=_("its layout changed"),
                fingerprint=content_fingerprint(campaign),
                request=request,
            )
            affected.append(campaign.pk)
    record(
        Action.LAYOUT_CHANGED,
        actor=membership.user,
        organization=membership.organization,
        target=layout,
        request=request,
        content_changed=content_changed,
        campaigns_returned_to_draft=affected,
    )
    return layout


# --- Sender profile ---------------------------------------------------------------------

PROFILE_FIELDS = (
    "sender_name",
    "postal_address",
    "complaints_contact",
    "footer_language",
    "test_addresses",
    "drift_threshold_percent",
    "undo_window_minutes",
    "spam_score_limit",
)
FOOTER_FIELDS = ("sender_name", "postal_address", "complaints_contact", "footer_language")


@transaction.atomic
def update_sender_profile(membership: Membership, changes: dict, request=None) -> dict:
    """Change the organisation's sender profile (admins); returns ``{field: [old, new]}``.

    A footer change alters what every campaign sends: campaigns awaiting approval or
    approved go back to draft.
    """
    require_perm(membership, "org.manage")
    SenderProfile.for_organization(membership.organization_id)
    profile = SenderProfile.objects.select_for_update().get(
        organization_id=membership.organization_id
    )
    proposed = SenderProfile(test_addresses=changes.get("test_addresses", ""))
    bad = [line for line in proposed.test_address_list() if address_error(line)]
    if bad:
        raise ValidationError(
            {"test_addresses": _("Not e-mail addresses: %(list)s") % {"list": ", ".join(bad)}}
        )
    diff = {}
    for name in PROFILE_FIELDS:
        if name in changes and getattr(profile, name) != changes[name]:
            diff[name] = [str(getattr(profile, name)), str(changes[name])]
            setattr(profile, name, changes[name])
    if not diff:
        return {}
    profile.full_clean()
    profile.updated_at = timezone.now()
    profile.save()
    sender_profile_changed(profile, diff, actor=membership.user, request=request)
    return diff


def sender_profile_changed(profile: SenderProfile, diff: dict, *, actor, request=None) -> list:
    """After a saved change of ``profile`` (``{field: [old, new]}``), from the settings
    page or the Django admin: a footer change returns campaigns awaiting approval or
    approved to draft (what they send changed). Audited; returns their ids."""
    affected = []
    if set(diff) & set(FOOTER_FIELDS):
        campaigns = Campaign.objects.filter(
            organization_id=profile.organization_id,
            state__in=EDITABLE_STATES - {CampaignState.DRAFT},
        ).select_for_update()
        for campaign in campaigns:
            return_to_draft(
                campaign,
                actor=actor,
                reason=_("the organisation's footer changed"),
                fingerprint=content_fingerprint(campaign, profile),
                request=request,
            )
            affected.append(campaign.pk)
    record(
        Action.SENDER_PROFILE_CHANGED,
        actor=actor,
        organization=profile.organization,
        target=profile,
        request=request,
        changes=diff,
        campaigns_returned_to_draft=affected,
    )
    return affected


# --- Reading ----------------------------------------------------------------------------


def snapshot_diff(campaign: Campaign) -> list[tuple[str, list[str]]]:
    """``(field, unified diff lines)`` between the last approved version and now; empty
    when the campaign was never approved or nothing differs."""
    if not campaign.approved_snapshot:
        return []
    before = _flatten(campaign.approved_snapshot)
    after = _flatten(content_snapshot(campaign))
    diffs = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, ""), after.get(key, "")
        if old == new:
            continue
        lines = list(
            difflib.unified_diff(
                old.splitlines(), new.splitlines(), lineterm="", n=2, fromfile="", tofile=""
            )
        )[2:]
        diffs.append((key, lines))
    return diffs


def _flatten(snapshot, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in snapshot.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)
        else:
            flat[name] = "" if value is None else str(value)
    return flat


def notifications_for(membership: Membership):
    return Notification.objects.for_organization(membership.organization_id).filter(
        user=membership.user
    )


def mark_notifications_read(membership: Membership) -> int:
    return notifications_for(membership).unread().update(read_at=timezone.now())
