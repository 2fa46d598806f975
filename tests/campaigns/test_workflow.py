"""The two-person approval workflow, through the services every door uses."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.enums import Role
from audit.models import AuditEntry
from campaigns import hooks, services
from campaigns.enums import CampaignState, Decision
from campaigns.fingerprint import content_fingerprint
from campaigns.models import Approval, Campaign
from tests.campaigns.conftest import edit, make_campaign
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def _entries(campaign, action):
    return list(
        AuditEntry.objects.filter(
            target_type="campaigns.campaign", target_id=str(campaign.pk), action=action
        ).order_by("seq")
    )


# --- Submitting -----------------------------------------------------------------------


def test_submit_moves_a_draft_to_submitted_bound_to_its_fingerprint(campaign, marketer):
    campaign = services.submit_campaign(marketer, campaign)

    assert campaign.state == CampaignState.SUBMITTED
    assert campaign.submitted_by == marketer.user
    assert campaign.submitted_fingerprint == content_fingerprint(campaign)
    (entry,) = _entries(campaign, "campaign_submitted")
    assert entry.actor == marketer.user
    assert entry.details["fingerprint"] == campaign.submitted_fingerprint
    assert entry.details["state_before"] == "draft"
    assert entry.details["state"] == "submitted"
    assert entry.details["recipient_count"] == 3


def test_submit_is_refused_while_the_check_has_blocking_findings(marketer, customers, profile):
    # No domain checker registered: "sending domains are not set up yet" blocks.
    campaign = make_campaign(marketer, customers)

    with hooks.registered(), pytest.raises(ValidationError) as error:
        services.submit_campaign(marketer, campaign)

    assert error.value.messages == [
        "Sending domains are not set up yet, so the From domain cannot be verified."
    ]
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_submit_requires_the_submit_permission(campaign, approver):
    with pytest.raises(PermissionDenied):
        services.submit_campaign(approver, campaign)


def test_withdraw_returns_a_submitted_campaign_to_draft(submitted, marketer):
    campaign = services.withdraw_campaign(marketer, submitted)

    assert campaign.state == CampaignState.DRAFT
    assert _entries(campaign, "campaign_withdrawn")[0].details["state_before"] == "submitted"


# --- Self-approval ----------------------------------------------------------------------


def test_the_submitter_cannot_approve_their_own_campaign(submitted, marketer):
    # A marketer lacks campaigns.approve anyway: refused by permission.
    with pytest.raises(PermissionDenied):
        services.approve_campaign(marketer, submitted)


def test_an_admin_who_submitted_cannot_approve_whatever_their_role(
    org_a, admin, customers, profile, verified_domain
):
    campaign = make_campaign(admin, customers)
    campaign = services.submit_campaign(admin, campaign)

    with pytest.raises(services.SelfApprovalError) as error:
        services.approve_campaign(
            admin, campaign, expected_fingerprint=campaign.submitted_fingerprint
        )

    assert str(error.value) == "You submitted this campaign; someone else must approve it."
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SUBMITTED
    assert Approval.objects.filter(campaign=campaign).count() == 0
    (refusal,) = _entries(campaign, "campaign_self_approval_refused")
    assert refusal.actor == admin.user
    assert refusal.details["attempted"] == "approve"


def test_the_submitter_cannot_reject_their_own_campaign_either(
    admin, customers, profile, verified_domain
):
    campaign = services.submit_campaign(admin, make_campaign(admin, customers))

    with pytest.raises(services.SelfApprovalError):
        services.reject_campaign(admin, campaign, comment="no")

    assert _entries(campaign, "campaign_self_approval_refused")[0].details["attempted"] == "reject"


def test_the_last_editor_cannot_approve_what_they_wrote(submitted, admin, marketer):
    # An admin fixes a typo (which voids and returns to draft), the marketer resubmits:
    # the admin wrote part of what goes out, so someone else must approve it.
    edit(admin, submitted, subject="春のセール")
    campaign = services.submit_campaign(marketer, Campaign.objects.get(pk=submitted.pk))

    with pytest.raises(services.SelfApprovalError) as error:
        services.approve_campaign(admin, campaign)

    assert str(error.value) == (
        "You made the last change to this campaign; someone else must approve it."
    )


def test_the_database_refuses_an_approval_by_the_submitter(submitted, marketer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            organization_id=submitted.organization_id,
            campaign=submitted,
            approver=marketer.user,
            submitted_by=marketer.user,
            decision=Decision.APPROVED,
            fingerprint=submitted.submitted_fingerprint,
        )


# --- Approving --------------------------------------------------------------------------


def test_one_approval_approves_when_one_is_required(submitted, approver, marketer):
    before = timezone.now()

    campaign = services.approve_campaign(
        approver,
        submitted,
        comment="良いです",
        expected_fingerprint=submitted.submitted_fingerprint,
    )

    assert campaign.state == CampaignState.APPROVED
    assert campaign.approved_fingerprint == submitted.submitted_fingerprint
    assert campaign.approved_count == 3
    window = campaign.undo_until - campaign.approved_at
    assert window == datetime.timedelta(minutes=5)
    assert campaign.approved_at >= before
    given, approved = (
        _entries(campaign, "campaign_approval_given")[0],
        _entries(campaign, "campaign_approved")[0],
    )
    assert given.actor == approver.user
    assert given.details["comment"] == "良いです"
    assert given.details["fingerprint"] == campaign.approved_fingerprint
    assert approved.details["approvers"] == ["approver@a.example"]
    assert approved.details["state"] == "approved"


def test_a_campaign_with_a_send_time_becomes_scheduled(
    marketer, approver, customers, profile, verified_domain
):
    send_at = timezone.now() + datetime.timedelta(days=2)
    campaign = make_campaign(marketer, customers, send_at=send_at)
    campaign = services.submit_campaign(marketer, campaign)

    campaign = services.approve_campaign(approver, campaign)

    assert campaign.state == CampaignState.SCHEDULED


def test_two_distinct_approvers_are_needed_when_two_are_required(org_a, submitted, approver, admin):
    org_a.approvals_required = 2
    org_a.save()

    campaign = services.approve_campaign(approver, submitted)
    assert campaign.state == CampaignState.SUBMITTED

    with pytest.raises(ValidationError) as error:
        services.approve_campaign(approver, campaign)
    assert error.value.messages == ["You have already approved this version."]
    assert Campaign.objects.get(pk=campaign.pk).state == CampaignState.SUBMITTED

    campaign = services.approve_campaign(admin, campaign)
    assert campaign.state == CampaignState.APPROVED
    approved = _entries(campaign, "campaign_approved")[0]
    assert approved.details["approvers"] == ["admin@a.example", "approver@a.example"]


def test_an_approval_is_refused_when_the_campaign_changed_while_reviewing(submitted, approver):
    with pytest.raises(ValidationError) as error:
        services.approve_campaign(approver, submitted, expected_fingerprint="0" * 64)

    assert error.value.messages == [
        "The campaign changed while you were reviewing it. Review it again before deciding."
    ]
    assert Approval.objects.filter(campaign=submitted).count() == 0


def test_approving_requires_a_clean_check_at_that_moment(submitted, approver, profile):
    # The organisation's footer was emptied through the database (not the settings page).
    type(profile).objects.filter(pk=profile.pk).update(postal_address="")
    Campaign.objects.filter(pk=submitted.pk).update(
        submitted_fingerprint=content_fingerprint(submitted)
    )

    with pytest.raises(ValidationError) as error:
        services.approve_campaign(approver, Campaign.objects.get(pk=submitted.pk))

    assert any("postal address" in m for m in error.value.messages)


def test_only_campaigns_awaiting_approval_can_be_approved(campaign, approver):
    with pytest.raises(ValidationError) as error:
        services.approve_campaign(approver, campaign)

    assert error.value.messages == ["This campaign is not awaiting approval."]


def test_a_viewer_cannot_approve(submitted, viewer):
    with pytest.raises(PermissionDenied):
        services.approve_campaign(viewer, submitted)


# --- Rejecting --------------------------------------------------------------------------


def test_rejecting_returns_to_draft_with_the_comment(submitted, approver, org_a):
    org_a.approvals_required = 2
    org_a.save()
    admin_two = make_member(org_a, Role.APPROVER, "second@a.example")
    services.approve_campaign(admin_two, submitted)

    campaign = services.reject_campaign(approver, submitted, comment="件名に誤字があります")

    assert campaign.state == CampaignState.DRAFT
    assert campaign.rejection_comment == "件名に誤字があります"
    assert campaign.rejected_by == approver.user
    assert Approval.objects.current().filter(campaign=campaign).count() == 0
    entry = _entries(campaign, "campaign_rejected")[0]
    assert entry.details["comment"] == "件名に誤字があります"
    assert entry.details["state"] == "draft"
    assert entry.actor == approver.user


def test_a_rejection_needs_a_comment(submitted, approver):
    with pytest.raises(ValidationError) as error:
        services.reject_campaign(approver, submitted, comment="  ")

    assert error.value.message_dict == {"comment": ["Say what needs to change."]}


# --- Edits void approvals ----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "別の件名"},
        {"preheader": "別のプリヘッダー"},
        {"from_name": "別の名前"},
        {"reply_to": "other@shop.example"},
        {"html_body": "<p>別の本文</p>{{ footer }}"},
        {"text_body": "本文\n{{ footer }}"},
        {"charset": "iso-2022-jp"},
    ],
)
def test_any_edit_after_approval_voids_it_and_returns_to_draft(
    submitted, approver, marketer, change
):
    approved = services.approve_campaign(approver, submitted)
    assert approved.state == CampaignState.APPROVED

    campaign = edit(marketer, approved, **change)

    assert campaign.state == CampaignState.DRAFT
    assert campaign.approved_fingerprint == ""
    assert Approval.objects.current().filter(campaign=campaign).count() == 0
    voided = _entries(campaign, "campaign_approvals_voided")[0]
    assert voided.details["state_before"] == "approved"
    assert voided.details["approvals_voided"] == 1
    assert voided.actor == marketer.user
    assert (
        not services.due_campaigns(now=timezone.now() + datetime.timedelta(days=1))
        .filter(pk=campaign.pk)
        .exists()
    )


def test_an_edit_of_the_schedule_or_audience_voids_too(submitted, approver, marketer, org_a):
    from tests.campaigns.conftest import make_list

    services.approve_campaign(approver, submitted)
    campaign = edit(marketer, submitted, send_at=timezone.now() + datetime.timedelta(days=1))
    assert campaign.state == CampaignState.DRAFT

    campaign = services.approve_campaign(approver, services.submit_campaign(marketer, campaign))
    campaign = edit(marketer, campaign, exclude_lists=[make_list(org_a, "VIP")])
    assert campaign.state == CampaignState.DRAFT


def test_an_edit_while_submitted_voids_partial_approvals(org_a, submitted, approver, marketer):
    org_a.approvals_required = 2
    org_a.save()
    services.approve_campaign(approver, submitted)

    campaign = edit(marketer, submitted, subject="直しました")

    assert campaign.state == CampaignState.DRAFT
    assert Approval.objects.current().filter(campaign=campaign).count() == 0


def test_renaming_does_not_void_an_approval(submitted, approver, marketer):
    approved = services.approve_campaign(approver, submitted)

    campaign = edit(marketer, approved, name="春のセール 社内用")

    assert campaign.state == CampaignState.APPROVED
    assert campaign.approved_fingerprint == content_fingerprint(campaign)


def test_a_sending_campaign_cannot_be_edited(submitted, approver, marketer):
    approved = services.approve_campaign(approver, submitted)
    Campaign.objects.filter(pk=approved.pk).update(state=CampaignState.SENDING)

    with pytest.raises(ValidationError) as error:
        edit(marketer, approved, subject="x")

    assert error.value.messages == [
        "A campaign that is sending cannot be changed; clone it instead."
    ]


def test_changing_a_layout_returns_approved_campaigns_using_it_to_draft(
    submitted, approver, marketer
):
    layout = services.create_layout(
        marketer, name="Standard", html="<div>{{ content }}</div>", text=""
    )
    campaign = edit(marketer, submitted, layout=layout)
    campaign = services.approve_campaign(approver, services.submit_campaign(marketer, campaign))
    assert campaign.state == CampaignState.APPROVED

    services.update_layout(marketer, layout, name="Standard", html="<main>{{ content }}</main>")

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT
    assert _entries(campaign, "campaign_approvals_voided")[-1].details["reason"] == (
        "its layout changed"
    )


def test_changing_the_footer_returns_approved_campaigns_to_draft(submitted, approver, admin):
    services.approve_campaign(approver, submitted)

    services.update_sender_profile(admin, {"postal_address": "〒530-0001 大阪府大阪市北区梅田1-1"})

    submitted.refresh_from_db()
    assert submitted.state == CampaignState.DRAFT


def test_changing_test_addresses_does_not_touch_campaigns(submitted, approver, admin):
    services.approve_campaign(approver, submitted)

    services.update_sender_profile(admin, {"test_addresses": "new@shop.example"})

    submitted.refresh_from_db()
    assert submitted.state == CampaignState.APPROVED


# --- Cancel, undo window, pause -----------------------------------------------------------


def test_the_marketer_can_cancel_during_the_undo_window(submitted, approver, marketer):
    approved = services.approve_campaign(approver, submitted)

    campaign = services.cancel_campaign(marketer, approved)

    assert campaign.state == CampaignState.CANCELLED
    entry = _entries(campaign, "campaign_cancelled")[0]
    assert entry.details["within_undo_window"] is True
    assert entry.details["state_before"] == "approved"
    assert entry.actor == marketer.user


def test_an_approver_can_cancel_too(submitted, approver):
    approved = services.approve_campaign(approver, submitted)

    assert services.cancel_campaign(approver, approved).state == CampaignState.CANCELLED


def test_a_viewer_cannot_cancel(submitted, viewer):
    with pytest.raises(PermissionDenied):
        services.cancel_campaign(viewer, submitted)


def test_a_sent_campaign_cannot_be_cancelled(campaign, marketer):
    Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.SENT)

    with pytest.raises(ValidationError):
        services.cancel_campaign(marketer, campaign)


def test_pause_and_resume_while_sending(submitted, approver, marketer):
    approved = services.approve_campaign(approver, submitted)
    Campaign.objects.filter(pk=approved.pk).update(state=CampaignState.SENDING)

    paused = services.pause_campaign(marketer, approved)
    assert paused.state == CampaignState.PAUSED
    assert services.sending_allowed(approved.pk) is False

    resumed = services.resume_campaign(approver, approved)
    assert resumed.state == CampaignState.SENDING
    assert services.sending_allowed(approved.pk) is True
    assert [
        e.action
        for e in AuditEntry.objects.filter(target_id=str(approved.pk))
        .filter(action__in=["campaign_paused", "campaign_resumed"])
        .order_by("seq")
    ] == [
        "campaign_paused",
        "campaign_resumed",
    ]


def test_only_a_sending_campaign_can_be_paused(campaign, marketer):
    with pytest.raises(ValidationError):
        services.pause_campaign(marketer, campaign)


# --- Clone ------------------------------------------------------------------------------


def test_clone_copies_content_and_audience_but_not_approvals(submitted, approver, marketer):
    approved = services.approve_campaign(approver, submitted)

    copy = services.clone_campaign(marketer, approved)

    assert copy.state == CampaignState.DRAFT
    assert copy.name == "Copy of Spring sale"
    assert copy.cloned_from == approved
    assert (copy.subject, copy.html_body) == (approved.subject, approved.html_body)
    assert list(copy.include_lists.all()) == list(approved.include_lists.all())
    assert copy.approvals.count() == 0
    assert content_fingerprint(copy) == content_fingerprint(approved)
    assert _entries(copy, "campaign_cloned")[0].details["source_id"] == approved.pk


# --- Other organisations --------------------------------------------------------------------


def test_an_outsider_cannot_reach_the_campaign(submitted, outsider):
    from django.http import Http404

    with pytest.raises(Http404):
        services.get_campaign_for_member(outsider, submitted.pk)


def test_whoever_changed_the_layout_cannot_approve_campaigns_using_it(
    submitted, admin, approver, marketer
):
    layout = services.create_layout(marketer, name="Brand", html="<div>{{ content }}</div>")
    campaign = edit(marketer, submitted, layout=layout)
    services.update_layout(admin, layout, name="Brand", html="<section>{{ content }}</section>")
    campaign = services.submit_campaign(marketer, Campaign.objects.get(pk=campaign.pk))

    with pytest.raises(services.SelfApprovalError):
        services.approve_campaign(admin, campaign)
    assert services.approve_campaign(approver, campaign).state == CampaignState.APPROVED
