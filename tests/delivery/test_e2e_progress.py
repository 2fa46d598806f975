"""Real browser, real queue, real relay: an approver approves a campaign to 50 contacts
in the browser; the dispatcher freezes its recipients, a real Celery worker (in this
process, against the test Redis) sends each one over verified STARTTLS to an aiosmtpd
relay; the campaign page's htmx fragment shows the progress reach 100 %, then reloads
itself into the report when the campaign is marked sent.

The browser is the shared ``browser`` fixture (tests/conftest.py). Its event loop runs
in the test thread; the ORM is used between browser steps, and the worker and the live
server run in their own threads.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts.enums import Role
from campaigns import services as campaign_services
from campaigns.models import Campaign, SenderProfile
from config.celery import app
from delivery import engine
from delivery.models import Delivery
from delivery.services import add_sending_domain, dns_records, verify_sending_domain
from tests.campaigns.conftest import FOOTER, campaign_input, make_contact, make_list
from tests.factories import login_verified, make_member, make_organization

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/e2e-campaign-report.png"  # noqa: S108 - a screenshot for reviewers
RECIPIENTS = 50


def _close_connections(**_kwargs) -> None:
    connections.close_all()


@pytest.fixture
def worker(transactional_db, relay):
    """A real Celery worker in this process, consuming from the test Redis.

    Its thread closes its database connections after each task: a connection left open
    by a finished thread would stop the test database from being dropped.
    """
    app.conf.broker_url = settings.CELERY_BROKER_URL
    app.control.purge()
    task_postrun.connect(_close_connections, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            yield
    finally:
        task_postrun.disconnect(_close_connections)


def _page_for(browser, live_server, user):
    client = Client()
    login_verified(client, user)
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def test_approved_campaign_progress_reaches_100_and_the_report_shows_the_sends(
    relay, dns_zone, worker, live_server, browser
):
    from playwright.sync_api import expect

    organization = make_organization("demo", name="Demo Shop")
    admin = make_member(organization, Role.ADMIN, "admin@demo.example")
    marketer = make_member(organization, Role.MARKETER, "marketer@demo.example")
    approver = make_member(organization, Role.APPROVER, "approver@demo.example")
    domain = add_sending_domain(admin, "shop.example")
    for record in dns_records(domain):
        dns_zone.setdefault(record["name"], []).append(record["value"])
    assert verify_sending_domain(domain).is_verified
    profile = SenderProfile.for_organization(organization)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.save()
    customers = make_list(organization)
    for i in range(RECIPIENTS):
        make_contact(organization, f"customer{i:02d}@example.jp", customers, last_name=f"顧客{i}")
    campaign = campaign_services.create_campaign(marketer, campaign_input(customers))
    campaign_services.submit_campaign(marketer, campaign)

    context, page = _page_for(browser, live_server, approver.user)
    try:
        # The approver approves it in the browser, as it will go out.
        page.goto(f"/o/demo/campaigns/{campaign.pk}/review/")
        page.fill("#id_approve_comment", "配信してください")
        page.get_by_test_id("approve").click()
        page.wait_for_url(f"**/o/demo/campaigns/{campaign.pk}/")
        expect(page.get_by_test_id("state")).to_have_text("Approved")
        expect(page.get_by_test_id("not-started")).to_be_visible()

        # The undo window is the campaigns app's business; start now. The dispatcher
        # (Celery beat in production) freezes the 50 recipients and queues their tasks.
        Campaign.objects.filter(pk=campaign.pk).update(undo_until=timezone.now())
        assert engine.dispatch_due_campaigns() == [campaign.pk]

        # The approved page polls slowly and reloads itself once sending has started;
        # from then on the fragment polls every 2 s until every recipient is done.
        expect(page.get_by_test_id("state")).to_have_text("Sending", timeout=30_000)
        expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=60_000)
        expect(page.get_by_test_id("count-sent")).to_have_text(str(RECIPIENTS))
        expect(page.get_by_test_id("count-queued")).to_have_text("0")

        # A few people open it (long enough after sending not to look like a scanner).
        Delivery.objects.filter(campaign=campaign).update(
            sent_at=timezone.now() - timedelta(minutes=30)
        )
        tokens = list(
            Delivery.objects.filter(campaign=campaign)
            .order_by("address")
            .values_list("token", flat=True)[:5]
        )
        for token in tokens:
            assert page.request.get(f"/t/o/{token}.gif").status == 200

        # Maintenance (Celery beat) marks the campaign sent; the next poll reloads the
        # page, which now shows the report.
        assert engine.maintain()["sent"] == 1
        expect(page.get_by_test_id("state")).to_have_text("Sent", timeout=30_000)
        expect(page.get_by_test_id("report-sent")).to_have_text(str(RECIPIENTS))
        expect(page.get_by_test_id("report-delivered")).to_have_text(str(RECIPIENTS))
        expect(page.get_by_test_id("rate-delivered")).to_have_text("100.0 %")
        expect(page.get_by_test_id("report-opens-unique")).to_have_text("5")
        expect(page.get_by_test_id("rate-opens-unique")).to_have_text("10.0 %")
        expect(page.get_by_test_id("report-hard-bounced")).to_have_text("0")
        chart = page.get_by_test_id("chart")
        expect(chart).to_be_visible()
        assert chart.locator("rect.sends").count() == 1
        assert page.locator("[data-testid=progress][hx-trigger]").count() == 0  # stopped
        page.screenshot(path=SCREENSHOT, full_page=True)
    finally:
        context.close()
        # ORM calls made while Playwright's loop runs keep their own connection, which
        # pytest-django's teardown does not see: close it, or the test database cannot
        # be dropped.
        connections.close_all()

    # Exactly one message per recipient reached the relay, each over TLS to one address.
    recipients = [rcpt for _from, rcpts, _raw, _tls in relay.messages for rcpt in rcpts]
    assert sorted(recipients) == [f"customer{i:02d}@example.jp" for i in range(RECIPIENTS)]
    assert all(over_tls for *_rest, over_tls in relay.messages)
