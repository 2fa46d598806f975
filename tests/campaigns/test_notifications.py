"""Approvers hear when a campaign awaits them; the marketer when it is approved or
rejected. In the app and by e-mail (after commit)."""

from __future__ import annotations

import pytest
from django.core import mail

from campaigns import services
from campaigns.enums import NotificationKind
from campaigns.models import Notification
from tests.campaigns.conftest import make_campaign

pytestmark = pytest.mark.django_db


def _kinds(user):
    return list(Notification.objects.filter(user=user).values_list("kind", flat=True))


def test_approvers_are_told_when_a_campaign_awaits_them(
    campaign, marketer, approver, admin, viewer, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.submit_campaign(marketer, campaign)

    assert _kinds(approver.user) == [NotificationKind.AWAITING_APPROVAL]
    assert _kinds(admin.user) == [NotificationKind.AWAITING_APPROVAL]
    assert _kinds(marketer.user) == []
    assert _kinds(viewer.user) == []
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@a.example", "approver@a.example"]
    message = next(m for m in mail.outbox if m.to == ["approver@a.example"])
    assert message.subject == "Awaiting your approval: Spring sale"
    assert "marketer@a.example submitted the campaign “Spring sale”" in message.body
    assert f"/o/org-a/campaigns/{campaign.pk}/review/" in message.body
    assert message.alternatives[0][1] == "text/html"


def test_the_submitter_is_never_asked_to_approve(
    admin, approver, customers, profile, verified_domain
):
    campaign = make_campaign(admin, customers)

    services.submit_campaign(admin, campaign)

    assert _kinds(admin.user) == []
    assert _kinds(approver.user) == [NotificationKind.AWAITING_APPROVAL]


def test_the_marketer_is_told_of_an_approval(
    submitted, marketer, approver, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.approve_campaign(approver, submitted, comment="OK")

    assert _kinds(marketer.user) == [NotificationKind.APPROVED]
    (message,) = mail.outbox
    assert message.to == ["marketer@a.example"]
    assert message.subject == "Approved: Spring sale"
    assert "OK" in message.body


def test_the_marketer_is_told_of_a_rejection_with_the_comment(
    submitted, marketer, approver, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.reject_campaign(approver, submitted, comment="リンク先が違います")

    notification = Notification.objects.get(user=marketer.user)
    assert (notification.kind, notification.comment) == (
        NotificationKind.REJECTED,
        "リンク先が違います",
    )
    (message,) = mail.outbox
    assert message.subject == "Rejected: Spring sale"
    assert "リンク先が違います" in message.body


def test_a_name_with_a_line_break_cannot_break_the_notification_subject(
    marketer, customers, profile, verified_domain, approver, django_capture_on_commit_callbacks
):
    campaign = make_campaign(marketer, customers, name="Sale\r\nBcc: x@example.com")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.submit_campaign(marketer, campaign)

    assert mail.outbox[0].subject == "Awaiting your approval: Sale Bcc: x@example.com"


def test_marking_notifications_read(approver, submitted):
    assert services.notifications_for(approver).unread().count() == 1

    services.mark_notifications_read(approver)

    assert services.notifications_for(approver).unread().count() == 0
