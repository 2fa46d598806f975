"""Two people, two browsers: the marketer writes and submits a campaign, the approver
approves it, and the marketer never finds an approve button on their own campaign.

Playwright's sync API drives Debian's chromium (``playwright install`` cannot download
browsers here). Its event loop runs in the test thread, so Django's async guard is
relaxed for this module; the ORM is only used between browser steps.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.enums import Role
from campaigns import hooks
from campaigns.models import Campaign, SenderProfile
from tests.campaigns.conftest import FOOTER, make_contact, make_list, verified
from tests.factories import login_verified, make_member, make_organization

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/e2e-campaign-review.png"  # noqa: S108 - a screenshot for reviewers


def _page_for(browser, live_server, user):
    """A browser context logged in as ``user`` (second factor verified)."""
    client = Client()
    login_verified(client, user)
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def test_marketer_submits_approver_approves_and_the_marketer_cannot_approve(browser, live_server):
    organization = make_organization("demo", name="Demo Shop")
    marketer = make_member(organization, Role.MARKETER, "marketer@demo.example")
    approver = make_member(organization, Role.APPROVER, "approver@demo.example")
    profile = SenderProfile.for_organization(organization)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.save()
    customers = make_list(organization)
    make_contact(organization, "yamada@example.jp", customers, last_name="山田", first_name="太郎")
    make_contact(organization, "sato@example.jp", customers, last_name="佐藤", first_name="花子")

    with hooks.registered(domain_checker=verified):
        marketer_context, mpage = _page_for(browser, live_server, marketer.user)
        approver_context, apage = _page_for(browser, live_server, approver.user)
        try:
            # The marketer writes the campaign.
            mpage.goto("/o/demo/campaigns/")
            mpage.click("text=New campaign")
            mpage.fill("#id_name", "Spring sale")
            mpage.fill("#id_subject", "{{ contact.last_name }}様 春のセール")
            mpage.fill("#id_from_address", "news@shop.example")
            mpage.check(f"#id_include_lists input[value='{customers.pk}']")
            mpage.click("form.editor button[type=submit]")
            mpage.wait_for_url(re.compile(r"/o/demo/campaigns/\d+/$"))
            campaign = Campaign.objects.get(organization=organization)
            assert mpage.get_by_test_id("state").inner_text() == "Draft"
            mpage.locator("[data-testid=check] .check-summary").wait_for()
            assert mpage.locator(".finding.blocking").count() == 0

            # ...and submits it. No approve button for them, before or after.
            mpage.get_by_test_id("submit").click()
            mpage.wait_for_selector("text=Submitted for approval.")
            mpage.locator("[data-testid=check]").wait_for()
            assert mpage.get_by_test_id("state").inner_text() == "Awaiting approval"
            assert mpage.get_by_test_id("review").count() == 0
            assert mpage.get_by_test_id("approve").count() == 0

            # The approver finds it in the queue and reviews the message as it goes out.
            apage.goto("/o/demo/campaigns/approvals/")
            apage.click("text=Review")
            apage.wait_for_url(f"**/o/demo/campaigns/{campaign.pk}/review/")
            assert apage.get_by_test_id("review-count").inner_text() == "2 recipients"
            frame = apage.frame_locator("[data-testid=preview-desktop]")
            assert frame.locator("body").inner_text().startswith("山田 様")
            assert apage.get_by_test_id("preview-subject").inner_text() == "山田様 春のセール"
            apage.screenshot(path=SCREENSHOT, full_page=True)
            apage.fill("#id_approve_comment", "問題ありません")
            apage.get_by_test_id("approve").click()
            apage.wait_for_url(f"**/o/demo/campaigns/{campaign.pk}/")
            assert apage.get_by_test_id("state").inner_text() == "Approved"
            apage.locator("[data-testid=check]").wait_for()  # let htmx finish before closing

            # Back in the marketer's browser: approved, and still nothing to approve.
            mpage.reload()
            mpage.locator("[data-testid=check]").wait_for()
            assert mpage.get_by_test_id("state").inner_text() == "Approved"
            assert mpage.get_by_test_id("undo-window").count() == 1
            assert mpage.get_by_test_id("review").count() == 0
            assert mpage.get_by_test_id("approve").count() == 0
            response = mpage.goto(f"/o/demo/campaigns/{campaign.pk}/review/")
            assert response.status == 403
        finally:
            marketer_context.close()
            approver_context.close()

    campaign.refresh_from_db()
    assert campaign.state == "approved"
    assert list(campaign.approvals.values_list("approver__email", "comment")) == [
        ("approver@demo.example", "問題ありません")
    ]
