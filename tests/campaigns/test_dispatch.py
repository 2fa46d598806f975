"""What delivery's dispatcher relies on: due_campaigns, claim_for_sending, check_drift,
mark_sent. Real audiences (contacts, lists, segments, suppressions) throughout."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEntry
from campaigns import services
from campaigns.dispatch import drift_exceeds
from campaigns.enums import CampaignState, NotificationKind
from campaigns.fingerprint import content_fingerprint
from campaigns.models import Approval, Campaign, Notification, SenderProfile
from contacts.models import Suppression
from segments.models import Segment
from tests.campaigns.conftest import edit, make_campaign, make_contact

pytestmark = pytest.mark.django_db

LATER = datetime.timedelta(minutes=6)  # past the default five-minute undo window


def _approved(marketer, approver, campaign):
    return services.approve_campaign(approver, services.submit_campaign(marketer, campaign))


@pytest.fixture
def approved(campaign, marketer, approver):
    return _approved(marketer, approver, campaign)


def _due(now):
    return list(services.due_campaigns(now=now).values_list("pk", flat=True))


# --- due_campaigns ------------------------------------------------------------------------


def test_an_approved_campaign_is_not_due_inside_the_undo_window(approved):
    assert _due(approved.approved_at + datetime.timedelta(minutes=4)) == []
    assert _due(approved.undo_until) == [approved.pk]


def test_the_undo_window_follows_the_organisation_setting(campaign, marketer, approver, profile):
    profile.undo_window_minutes = 30
    profile.save()

    approved = _approved(marketer, approver, campaign)

    assert approved.undo_until - approved.approved_at == datetime.timedelta(minutes=30)
    assert _due(approved.approved_at + datetime.timedelta(minutes=29)) == []


def test_a_scheduled_campaign_is_due_at_its_time_not_before(
    marketer, approver, customers, profile, verified_domain
):
    send_at = timezone.now() + datetime.timedelta(hours=3)
    campaign = _approved(marketer, approver, make_campaign(marketer, customers, send_at=send_at))

    assert campaign.state == CampaignState.SCHEDULED
    assert _due(timezone.now() + LATER) == []
    assert _due(send_at) == [campaign.pk]


@pytest.mark.parametrize(
    "state",
    [
        CampaignState.DRAFT,
        CampaignState.SUBMITTED,
        CampaignState.HELD,
        CampaignState.SENDING,
        CampaignState.PAUSED,
        CampaignState.SENT,
        CampaignState.CANCELLED,
    ],
)
def test_only_approved_or_scheduled_campaigns_are_due(approved, state):
    Campaign.objects.filter(pk=approved.pk).update(state=state)

    assert _due(timezone.now() + LATER) == []


def test_a_campaign_cancelled_in_the_undo_window_is_never_due(approved, marketer):
    services.cancel_campaign(marketer, approved)

    assert _due(timezone.now() + datetime.timedelta(days=1)) == []


# --- claim_for_sending ----------------------------------------------------------------------


def test_claiming_a_due_campaign_starts_sending(approved):
    now = timezone.now() + LATER

    assert services.claim_for_sending(approved, now=now) is True

    approved.refresh_from_db()
    assert approved.state == CampaignState.SENDING
    assert approved.sending_started_at == now
    entry = AuditEntry.objects.get(action="campaign_sending", target_id=str(approved.pk))
    assert entry.actor is None
    assert entry.details["fingerprint"] == approved.approved_fingerprint
    assert sorted(c.email for c in services.audience_for_sending(approved)) == [
        "sato@example.jp",
        "suzuki@example.jp",
        "yamada@example.jp",
    ]


def test_claiming_inside_the_undo_window_changes_nothing(approved):
    assert services.claim_for_sending(approved, now=timezone.now()) is False

    approved.refresh_from_db()
    assert approved.state == CampaignState.APPROVED


def test_claiming_a_campaign_whose_segment_changed_returns_it_to_draft(
    org_a, marketer, approver, customers, profile, verified_domain
):
    segment = Segment.objects.create(
        organization=org_a,
        name="Acme staff",
        rules={"match": "all", "rules": [{"field": "company", "op": "contains", "value": "Acme"}]},
    )
    make_contact(org_a, "a@acme.example", company="Acme")
    campaign = make_campaign(marketer, customers, include_segments=[segment])
    campaign = _approved(marketer, approver, campaign)
    assert campaign.approved_count == 4

    # The segment's rules change after approval (segments cannot call campaigns).
    Segment.objects.filter(pk=segment.pk).update(
        rules={"match": "all", "rules": [{"field": "company", "op": "contains", "value": "Ac"}]}
    )

    assert services.claim_for_sending(campaign, now=timezone.now() + LATER) is False
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT
    entry = AuditEntry.objects.get(action="campaign_approvals_voided", target_id=str(campaign.pk))
    assert entry.details["reason"] == "what it sends changed after approval"
    assert entry.actor is None


def test_mark_sent_finishes_a_sending_campaign(approved):
    services.claim_for_sending(approved, now=timezone.now() + LATER)

    assert services.mark_sent(approved) is True
    approved.refresh_from_db()
    assert approved.state == CampaignState.SENT
    assert services.mark_sent(approved) is False


# --- Drift --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approved_count", "current", "threshold", "held"),
    [
        (100, 110, 10, False),  # exactly the threshold is fine
        (100, 111, 10, True),
        (100, 90, 10, False),
        (100, 89, 10, True),
        (0, 0, 10, False),
        (0, 1, 10, True),
        (10, 10, 0, False),
        (10, 11, 0, True),
    ],
)
def test_drift_beyond_the_threshold_holds(approved_count, current, threshold, held):
    assert drift_exceeds(approved_count, current, threshold) is held


def test_the_drift_check_holds_a_campaign_whose_audience_grew_too_much(
    org_a, approved, customers, django_capture_on_commit_callbacks
):
    # Approved for 3; one more subscriber is +33 %.
    make_contact(org_a, "new@example.jp", customers, last_name="新井")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.check_drift(approved) is True

    approved.refresh_from_db()
    assert approved.state == CampaignState.HELD
    assert (approved.held_approved_count, approved.held_count) == (3, 4)
    assert Approval.objects.current().filter(campaign=approved).count() == 0
    entry = AuditEntry.objects.get(action="campaign_held", target_id=str(approved.pk))
    assert (entry.details["approved_count"], entry.details["current_count"]) == (3, 4)
    assert entry.details["threshold_percent"] == 10
    assert sorted(
        Notification.objects.filter(kind=NotificationKind.HELD).values_list(
            "user__email", flat=True
        )
    ) == ["approver@a.example", "marketer@a.example"]
    assert sorted(m.to[0] for m in mail.outbox) == ["approver@a.example", "marketer@a.example"]
    assert "Approved for 3 recipients; now 4." in mail.outbox[0].body


def test_the_drift_check_counts_suppressions(org_a, approved):
    Suppression.objects.create(organization=org_a, address="sato@example.jp", reason="complaint")

    assert services.check_drift(approved) is True
    approved.refresh_from_db()
    assert approved.held_count == 2


def test_a_drift_within_the_threshold_changes_nothing(org_a, approved, customers, profile):
    profile.drift_threshold_percent = 50
    profile.save()
    make_contact(org_a, "new@example.jp", customers)

    assert services.check_drift(approved) is False
    approved.refresh_from_db()
    assert approved.state == CampaignState.APPROVED


def test_claiming_a_drifted_campaign_holds_it_instead(org_a, approved, customers):
    make_contact(org_a, "new@example.jp", customers)

    assert services.claim_for_sending(approved, now=timezone.now() + LATER) is False
    approved.refresh_from_db()
    assert approved.state == CampaignState.HELD


def test_a_held_campaign_needs_re_approval_with_the_new_count(
    org_a, approved, customers, approver, marketer
):
    make_contact(org_a, "new@example.jp", customers)
    services.check_drift(approved)
    approved.refresh_from_db()
    assert _due(timezone.now() + datetime.timedelta(days=1)) == []

    # The submitter still cannot approve; an approver can, binding the new count.
    with pytest.raises(services.SelfApprovalError):
        services.approve_campaign(_as_admin(marketer), approved)
    campaign = services.approve_campaign(approver, approved)

    assert campaign.state == CampaignState.APPROVED
    assert campaign.approved_count == 4
    assert campaign.held_count is None
    assert services.claim_for_sending(campaign, now=timezone.now() + LATER) is True


def _as_admin(membership):
    """The same person, promoted to admin (so they hold campaigns.approve)."""
    membership.role = "admin"
    membership.save()
    return membership


def test_the_fingerprint_covers_everything_that_goes_out(approved, org_a, marketer):
    fingerprint = content_fingerprint(approved)
    profile = SenderProfile.for_organization(org_a)

    profile.complaints_contact = "other@shop.example"
    assert content_fingerprint(approved, profile) != fingerprint
    profile.refresh_from_db()
    assert content_fingerprint(approved, profile) == fingerprint
    approved.name = "renamed"
    assert content_fingerprint(approved) == fingerprint
    approved.send_at = timezone.now()
    assert content_fingerprint(approved) != fingerprint


def test_edit_then_drift_check_on_draft_is_harmless(approved, marketer):
    campaign = edit(marketer, approved, subject="変更")

    assert campaign.state == CampaignState.DRAFT
    assert services.claim_for_sending(campaign, now=timezone.now() + LATER) is False


# --- Holds and pauses by the platform ---------------------------------------------------------


def test_a_campaign_over_the_monthly_limit_is_held_for_quota(approved, approver, marketer):
    assert services.hold_for_quota(approved, needed=3, remaining=1) is True

    approved.refresh_from_db()
    assert approved.state == CampaignState.HELD
    assert (approved.held_reason, approved.held_count, approved.held_remaining) == ("quota", 3, 1)
    assert Approval.objects.current().filter(campaign=approved).count() == 0
    entry = AuditEntry.objects.get(action="campaign_held", target_id=str(approved.pk))
    assert (entry.details["reason"], entry.details["needed"], entry.details["remaining"]) == (
        "quota",
        3,
        1,
    )
    assert Notification.objects.get(user=marketer.user, kind=NotificationKind.HELD).comment == (
        "It needs 3 sends; 1 are left this month."
    )


def test_a_quota_hold_changes_nothing_unless_approved(campaign):
    assert services.hold_for_quota(campaign, needed=3, remaining=1) is False

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_the_system_pauses_a_sending_campaign_with_its_reason(approved, marketer):
    from audit.enums import Action

    services.claim_for_sending(approved, now=timezone.now() + LATER)

    paused = services.pause_by_system(
        approved, action=Action.CAMPAIGN_PAUSED, reason="relay refused STARTTLS"
    )

    approved.refresh_from_db()
    assert paused is True
    assert approved.state == CampaignState.PAUSED
    assert services.sending_allowed(approved.pk) is False
    entry = AuditEntry.objects.filter(action="campaign_paused").get()
    assert (entry.actor, entry.details["reason"]) == (None, "relay refused STARTTLS")
    assert (
        Notification.objects.filter(user=marketer.user, kind=NotificationKind.PAUSED).count() == 1
    )
    assert services.pause_by_system(approved, action=Action.CAMPAIGN_PAUSED, reason="x") is False
    assert services.resume_campaign(marketer, approved).state == CampaignState.SENDING
