"""Reports: exact figures from deliveries and events made here, the progress fragment,
the SVG chart, the per-recipient CSV, hot prospects and the dashboard's sending part."""

from __future__ import annotations

import csv
import datetime
import io
import re
import uuid
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import pgettext
from guardian.shortcuts import assign_perm

from accounts.reauth import CREDENTIAL_FIELD
from audit.enums import Action
from audit.models import Alert, AlertKind, AlertRule, AuditEntry
from audit.tasks import evaluate_alerts
from campaigns.enums import CampaignState
from campaigns.models import Campaign, SenderProfile
from delivery import reports
from delivery.enums import DomainStatus
from delivery.models import Delivery, DeliveryEvent, SendingDomain, SmtpRelay
from tests.campaigns.conftest import FOOTER, make_campaign, make_contact, make_list
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
T0 = datetime.datetime(2025, 3, 3, 10, 0, tzinfo=TOKYO)


def delivery(campaign, address, status="sent", contact=None, **fields) -> Delivery:
    return Delivery.objects.create(
        organization=campaign.organization,
        campaign=campaign,
        contact=contact,
        address=address,
        token=uuid.uuid4().hex,
        status=status,
        **fields,
    )


def event(row, kind, at=T0, url="", is_machine=False) -> DeliveryEvent:
    return DeliveryEvent.objects.create(
        organization=row.organization,
        delivery=row,
        kind=kind,
        at=at,
        url=url,
        is_machine=is_machine,
    )


def set_state(campaign, state, **fields) -> Campaign:
    fields.setdefault("sending_started_at", T0)
    Campaign.objects.filter(pk=campaign.pk).update(state=state, **fields)
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def customers(org_a):
    return make_list(org_a)


@pytest.fixture
def campaign(marketer, customers):
    return make_campaign(marketer, customers)


@pytest.fixture
def sent_campaign(campaign):
    """Ten recipients with every kind of outcome (see the test below for the figures)."""
    set_state(campaign, "sent", sent_at=T0 + datetime.timedelta(hours=4))
    hour = datetime.timedelta(hours=1)
    rows = {
        "a1": delivery(campaign, "a1@example.jp", sent_at=T0, opened_at=T0 + hour),
        "a2": delivery(
            campaign, "a2@example.jp", sent_at=T0, opened_at=T0 + hour, unsubscribed_at=T0 + hour
        ),
        "a3": delivery(
            campaign, "a3@example.jp", sent_at=T0, opened_at=T0 + hour, clicked_at=T0 + hour
        ),
        "a4": delivery(campaign, "a4@example.jp", sent_at=T0 + hour),
        "a5": delivery(campaign, "a5@example.jp", sent_at=T0 + hour, complained_at=T0 + 2 * hour),
        "a6": delivery(campaign, "a6@example.jp", sent_at=T0 + 3 * hour),
        "a7": delivery(campaign, "a7@example.jp", "failed", bounced_at=T0, smtp_code=550),
        "a8": delivery(campaign, "a8@example.jp", "failed", smtp_code=451),
        "a9": delivery(campaign, "a9@example.jp", "suppressed"),
        "a10": delivery(campaign, "a10@example.jp", "unknown", claimed_at=T0),
    }
    event(rows["a1"], "open", T0 + hour)
    event(rows["a1"], "open", T0 + 2 * hour)
    event(rows["a1"], "open", T0 + datetime.timedelta(seconds=3), is_machine=True)
    event(rows["a2"], "open", T0 + hour)
    event(rows["a3"], "click", T0 + hour, url="https://shop.example/sale")
    event(rows["a3"], "click", T0 + 2 * hour, url="https://shop.example/sale")
    event(rows["a3"], "click", T0 + 2 * hour, url="https://shop.example/about")
    event(rows["a4"], "click", T0 + hour, url="https://shop.example/sale", is_machine=True)
    event(rows["a2"], "unsubscribe", T0 + hour)
    return campaign


# --- The report's figures -------------------------------------------------------------


def test_report_counts_every_outcome_exactly(sent_campaign, django_assert_num_queries):
    with django_assert_num_queries(3):
        report = reports.campaign_report(sent_campaign)

    assert (report.recipients, report.sent, report.delivered, report.failed) == (10, 6, 6, 2)
    assert (report.hard_bounced, report.soft_bounced) == (1, 1)
    assert (report.suppressed, report.unknown) == (1, 1)
    # Unique from the deliveries' first-open/click times; totals from human events only.
    assert (report.opens_unique, report.opens_total) == (3, 3)
    assert (report.clicks_unique, report.clicks_total) == (1, 3)
    assert (report.unsubscribes, report.complaints) == (1, 1)
    assert report.links == [
        reports.LinkStats("https://shop.example/sale", total=2, unique=1),
        reports.LinkStats("https://shop.example/about", total=1, unique=1),
    ]


def test_report_rates_use_the_documented_denominators(sent_campaign):
    report = reports.campaign_report(sent_campaign)

    assert report.attempted == 8
    assert report.delivery_rate == Decimal("75.0")
    assert report.hard_bounce_rate == Decimal("12.5")
    assert report.soft_bounce_rate == Decimal("12.5")
    assert report.open_rate == Decimal("50.0")
    assert report.click_rate == Decimal("16.7")
    assert report.click_to_open_rate == Decimal("33.3")
    assert report.unsubscribe_rate == Decimal("16.7")
    assert report.complaint_rate == Decimal("16.7")


def test_report_of_nothing_sent_has_no_rates(campaign):
    set_state(campaign, "cancelled")
    delivery(campaign, "x@example.jp", "cancelled")

    report = reports.campaign_report(campaign)

    assert (report.recipients, report.sent, report.attempted) == (1, 0, 0)
    assert report.delivery_rate is None and report.open_rate is None
    assert reports.format_rate(report.open_rate) == "\u2013"


def test_a_bounce_after_sending_is_not_delivered(campaign):
    set_state(campaign, "sent")
    delivery(campaign, "ok@example.jp", sent_at=T0)
    delivery(campaign, "dsn@example.jp", sent_at=T0, bounced_at=T0 + datetime.timedelta(hours=1))

    report = reports.campaign_report(campaign)

    assert (report.sent, report.delivered, report.hard_bounced) == (2, 1, 1)


def test_report_counts_only_its_own_campaign(sent_campaign, marketer, customers, outsider):
    other = make_campaign(marketer, customers, name="Other")
    set_state(other, "sent")
    event(delivery(other, "a1@example.jp", opened_at=T0), "open")

    report = reports.campaign_report(sent_campaign)

    assert (report.recipients, report.opens_total) == (10, 3)


# --- Progress ---------------------------------------------------------------------------


def test_progress_counts_rate_and_time_left(campaign, django_assert_num_queries):
    set_state(campaign, "sending")
    now = timezone.now()
    for i in range(4):
        delivery(campaign, f"q{i}@example.jp", "queued")
    delivery(campaign, "s@example.jp", "sending")
    for i in range(3):
        delivery(campaign, f"recent{i}@example.jp", sent_at=now - datetime.timedelta(seconds=20))
    for i in range(2):
        delivery(campaign, f"old{i}@example.jp", sent_at=now - datetime.timedelta(minutes=5))

    with django_assert_num_queries(1):
        progress = reports.campaign_progress(campaign, now=now)

    assert progress.counts == {
        "queued": 4,
        "sending": 1,
        "sent": 5,
        "failed": 0,
        "suppressed": 0,
        "unknown": 0,
        "cancelled": 0,
        "skipped": 0,
    }
    assert (progress.total, progress.done, progress.pending, progress.percent) == (10, 5, 5, 50)
    assert progress.sent_last_minute == 3
    # Five rows left at three a minute: 100 seconds.
    assert progress.seconds_left == 100
    assert progress.time_left == "about 2 minutes"
    assert [row.status for row in progress.rows] == [
        "queued",
        "sending",
        "sent",
        "failed",
        "suppressed",
        "unknown",
        "cancelled",
        "skipped",
    ]


def test_progress_of_a_paused_campaign_estimates_nothing(campaign):
    set_state(campaign, "paused")
    delivery(campaign, "q@example.jp", "queued")
    delivery(campaign, "s@example.jp", sent_at=timezone.now())

    progress = reports.campaign_progress(campaign)

    assert (progress.percent, progress.active, progress.seconds_left) == (50, True, None)


def test_percent_is_100_only_when_every_row_is_done(campaign):
    set_state(campaign, "sending")
    for i in range(199):
        delivery(campaign, f"d{i}@example.jp", sent_at=T0)
    delivery(campaign, "last@example.jp", "queued")

    assert reports.campaign_progress(campaign).percent == 99


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10, "less than a minute"),
        (60, "about 1 minute"),
        (3600, "about 60 minutes"),
        (5400, "about 1 h 30 min"),
    ],
)
def test_time_left_is_described_roughly(seconds, text):
    assert reports.describe_duration(seconds) == text


def test_progress_fragment_polls_every_2s_while_sending(campaign, viewer_client, org_a):
    set_state(campaign, "sending")
    delivery(campaign, "q@example.jp", "queued")
    delivery(campaign, "s@example.jp", sent_at=timezone.now())
    url = f"/o/{org_a.slug}/sending/campaigns/{campaign.pk}/progress/?state=sending"

    response = viewer_client.get(url, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in html
    assert f'hx-get="/o/org-a/sending/campaigns/{campaign.pk}/progress/?state=sending"' in html
    assert re.search(r'data-testid="percent">50%<', html)
    assert re.search(r'data-testid="count-queued">1<', html)
    assert re.search(r'data-testid="count-sent">1<', html)
    assert "1 message sent in the last minute." in html
    assert "HX-Refresh" not in response.headers
    assert 'data-testid="report"' not in html  # the report comes after sending


def test_progress_fragment_reloads_the_page_when_the_state_changed(sent_campaign, viewer_client):
    url = f"/o/org-a/sending/campaigns/{sent_campaign.pk}/progress/"

    polled = viewer_client.get(f"{url}?state=sending", HTTP_HX_REQUEST="true")
    loaded = viewer_client.get(f"{url}?state=sent", HTTP_HX_REQUEST="true")

    assert polled.status_code == loaded.status_code == 200
    assert polled.headers["HX-Refresh"] == "true"
    assert "HX-Refresh" not in loaded.headers
    assert "hx-trigger" not in loaded.content.decode()  # finished: no more polling


def test_report_fragment_shows_the_exact_figures(sent_campaign, viewer_client):
    response = viewer_client.get(f"/o/org-a/sending/campaigns/{sent_campaign.pk}/progress/")

    html = response.content.decode()
    expected = {
        "recipients": ("10", ""),
        "sent": ("6", ""),
        "delivered": ("6", "75.0 %"),
        "hard-bounced": ("1", "12.5 %"),
        "soft-bounced": ("1", "12.5 %"),
        "suppressed": ("1", ""),
        "unknown": ("1", ""),
        "opens-unique": ("3", "50.0 %"),
        "opens-total": ("3", ""),
        "clicks-unique": ("1", "16.7 %"),
        "clicks-total": ("3", ""),
        "click-to-open": ("1", "33.3 %"),
        "unsubscribes": ("1", "16.7 %"),
        "complaints": ("1", "16.7 %"),
    }
    for key, (count, rate) in expected.items():
        assert f'data-testid="report-{key}">{count}<' in html, key
        assert f'data-testid="rate-{key}">{rate}<' in html, key
    assert "https://shop.example/about" in html
    assert 'data-testid="chart"' in html
    # The viewer may read the report but not download addresses.
    assert 'data-testid="report-csv"' not in html


def _sent_count_labels(client, campaign) -> dict[str, str]:
    """The labels over the count of sent messages: the progress table's column, the
    report's row and the dashboard's column."""
    progress = client.get(f"/o/org-a/sending/campaigns/{campaign.pk}/progress/")
    html = progress.content.decode()
    counts = html.split('data-testid="counts"')[1].split("</table>")[0]
    headings = re.findall(r"<th>([^<]*)</th>", counts)
    columns = re.findall(r'data-testid="count-([a-z]+)"', counts)
    report_row = re.search(
        r'<th scope="row">([^<]*)</th><td class="num" data-testid="report-sent">', html
    )
    dashboard = client.get("/o/org-a/").content.decode()
    last = dashboard.split('data-testid="last-campaigns"')[1].split("</thead>")[0]
    return {
        "progress": dict(zip(columns, headings, strict=True))["sent"],
        "report": report_row.group(1),
        "dashboard": re.findall(r"<th[^>]*>([^<]*)</th>", last)[2],
    }


def test_sent_counts_are_labelled_sent_in_english(sent_campaign, admin_client):
    assert _sent_count_labels(admin_client, sent_campaign) == {
        "progress": "Sent",
        "report": "Sent",
        "dashboard": "Sent",
    }


def test_sent_counts_do_not_borrow_the_campaign_state_translation(sent_campaign, admin_client):
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"

    labels = _sent_count_labels(admin_client, sent_campaign)

    # The pages really are in Japanese (else untranslated labels would pass below).
    assert '<html lang="ja">' in admin_client.get("/o/org-a/").content.decode()

    with translation.override("ja"):
        campaign_state = str(CampaignState.SENT.label)
        expected = {
            "progress": pgettext("delivery status", "Sent"),
            "report": pgettext("number of messages", "Sent"),
            "dashboard": pgettext("number of messages", "Sent"),
        }
    assert campaign_state == "配信完了"
    assert labels == expected
    assert campaign_state not in labels.values()


def test_report_fragment_query_count_is_pinned(
    sent_campaign, viewer_client, django_assert_num_queries
):
    url = f"/o/org-a/sending/campaigns/{sent_campaign.pk}/progress/"
    viewer_client.get(url)  # the session's first request also writes it

    # session, user, 2FA device, membership, campaign, progress, unknown rows,
    # report (3), series (2), the nav's memberships
    with django_assert_num_queries(13):
        viewer_client.get(url)
    event(Delivery.objects.get(address="a6@example.jp"), "click", url="https://shop.example/x")
    with django_assert_num_queries(13):
        response = viewer_client.get(url)
    assert "https://shop.example/x" in response.content.decode()


def test_unknown_rows_are_listed_with_the_explanation(sent_campaign, admin_client):
    html = admin_client.get(
        f"/o/org-a/sending/campaigns/{sent_campaign.pk}/progress/"
    ).content.decode()

    assert "a10@example.jp" in html
    assert (
        "The relay may have accepted this message; check with the relay before re-sending." in html
    )
    assert 'data-testid="report-csv"' in html


def test_unknown_rows_list_only_contacts_the_member_may_see(campaign, marketer, org_a):
    secret = make_list(org_a, "Board", is_restricted=True)
    hidden = make_contact(org_a, "board@example.jp", secret)
    shown = make_contact(org_a, "open@example.jp")
    set_state(campaign, "sending")
    delivery(campaign, hidden.email, "unknown", contact=hidden)
    delivery(campaign, shown.email, "unknown", contact=shown)

    rows = reports.unknown_deliveries(marketer, campaign)

    assert [row.address for row in rows] == ["open@example.jp"]


# --- The chart --------------------------------------------------------------------------


def test_series_buckets_sends_and_human_opens_by_hour(sent_campaign):
    series = reports.campaign_series(sent_campaign)

    assert series.unit == "hour"
    assert [(b.start, b.sends, b.opens) for b in series.buckets] == [
        (T0, 3, 0),
        (T0 + datetime.timedelta(hours=1), 2, 2),
        (T0 + datetime.timedelta(hours=2), 0, 1),
        (T0 + datetime.timedelta(hours=3), 1, 0),
    ]


def test_chart_has_a_bar_per_hour_with_sends_and_a_point_per_hour(sent_campaign):
    svg = str(reports.chart_svg(reports.campaign_series(sent_campaign)))

    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert svg.count('<rect class="sends"') == 3
    assert svg.count('<circle class="opens"') == 4
    assert svg.count("<polyline") == 1
    assert "<title>03/03 10:00: 3 sent</title>" in svg
    assert "<title>03/03 11:00: 2 opened</title>" in svg
    assert "style=" not in svg and "<script" not in svg


def test_chart_switches_to_days_beyond_72_hours(campaign):
    set_state(campaign, "sent")
    sent = delivery(campaign, "a@example.jp", sent_at=T0)
    event(sent, "open", T0 + datetime.timedelta(days=4))

    series = reports.campaign_series(campaign)
    svg = str(reports.chart_svg(series))

    assert series.unit == "day"
    assert [(b.start.date().isoformat(), b.sends, b.opens) for b in series.buckets] == [
        ("2025-03-03", 1, 0),
        ("2025-03-04", 0, 0),
        ("2025-03-05", 0, 0),
        ("2025-03-06", 0, 0),
        ("2025-03-07", 0, 1),
    ]
    assert svg.count('<rect class="sends"') == 1
    assert svg.count('<circle class="opens"') == 5


def test_chart_of_nothing_is_empty(campaign):
    assert str(reports.chart_svg(reports.campaign_series(campaign))) == ""


def test_chart_gives_the_chart_every_bar_and_every_point_a_title():
    series = reports.Series("hour", [reports.Bucket(T0, 1, 0)])

    svg = str(reports.chart_svg(series))

    assert svg.count("<title>") == 3  # the chart, the bar and the point


# --- The CSV ------------------------------------------------------------------------------


def test_csv_lists_every_recipient_neutralised_with_a_bom(campaign, admin_client, org_a):
    set_state(campaign, "sent")
    delivery(campaign, "=cmd@example.jp", sent_at=T0, opened_at=T0 + datetime.timedelta(hours=1))
    delivery(campaign, "+sum@example.jp", "failed", bounced_at=T0)
    delivery(campaign, "yamada@example.jp", sent_at=T0, clicked_at=T0, unsubscribed_at=T0)
    url = f"/o/org-a/sending/campaigns/{campaign.pk}/report.csv"

    response = admin_client.post(url, {CREDENTIAL_FIELD: PASSWORD})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="report-{campaign.pk}-'
    )
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [
        ["E-mail address", "Status", "Sent at", "Opened", "Clicked", "Unsubscribed", "Bounced"],
        ["'+sum@example.jp", "Failed", "", "", "", "", "2025-03-03 10:00:00"],
        ["'=cmd@example.jp", "Sent", "2025-03-03 10:00:00", "2025-03-03 11:00:00", "", "", ""],
        [
            "yamada@example.jp",
            "Sent",
            "2025-03-03 10:00:00",
            "",
            "2025-03-03 10:00:00",
            "2025-03-03 10:00:00",
            "",
        ],
    ]
    entry = AuditEntry.objects.get(action=Action.REPORT_EXPORTED)
    assert (entry.organization, entry.target_id, entry.details) == (
        org_a,
        str(campaign.pk),
        {"rows": 3, "encoding": "utf-8-sig", "campaign_id": campaign.pk},
    )
    assert not AuditEntry.objects.filter(action=Action.CONTACTS_EXPORTED).exists()


def _export_three_recipients(campaign, admin, org_a, *, threshold: int) -> AuditEntry:
    """A sent campaign to three addresses exported with the organisation's export alert
    threshold at ``threshold`` rows; returns the export's audit entry."""
    AlertRule.objects.create(organization=org_a, export_rows=threshold)
    set_state(campaign, "sent")
    for address in ("a@example.jp", "b@example.jp", "c@example.jp"):
        delivery(campaign, address, sent_at=T0)
    reports.export_report_csv(admin, campaign)
    return AuditEntry.objects.get(action=Action.REPORT_EXPORTED)


def test_a_large_report_export_raises_the_large_export_alert(campaign, admin, org_a):
    entry = _export_three_recipients(campaign, admin, org_a, threshold=2)

    raised = evaluate_alerts(entry.pk)

    alert = Alert.objects.get()
    assert raised == 1
    assert (alert.kind, alert.organization, alert.audit_entry) == (
        AlertKind.LARGE_EXPORT,
        org_a,
        entry,
    )
    assert alert.message == (
        "admin@a.example exported 3 rows (campaign report); the threshold is 2."
    )
    assert alert.details == {"rows": 3, "threshold": 2, "export": "report_exported"}


def test_a_report_export_at_the_threshold_raises_no_alert(campaign, admin, org_a):
    entry = _export_three_recipients(campaign, admin, org_a, threshold=3)

    assert evaluate_alerts(entry.pk) == 0
    assert not Alert.objects.exists()


def test_csv_asks_for_the_password_again_first(campaign, admin_client):
    set_state(campaign, "sent")
    delivery(campaign, "a@example.jp", sent_at=T0)
    url = f"/o/org-a/sending/campaigns/{campaign.pk}/report.csv"

    page = admin_client.get(url)
    wrong = admin_client.post(url, {CREDENTIAL_FIELD: "not my password"})

    assert page.status_code == 200 and f'name="{CREDENTIAL_FIELD}"' in page.content.decode()
    assert wrong.status_code == 400
    assert wrong.templates[0].name == "accounts/reauth.html"
    assert "That is not your password or a current code. Try again." in wrong.content.decode()
    assert not AuditEntry.objects.filter(action=Action.REPORT_EXPORTED).exists()
    assert AuditEntry.objects.filter(action=Action.REAUTH_FAILED).count() == 1


def test_csv_has_only_contacts_the_member_may_see(campaign, marketer, marketer_client, org_a):
    secret = make_list(org_a, "Board", is_restricted=True)
    hidden = make_contact(org_a, "board@example.jp", secret)
    shown = make_contact(org_a, "open@example.jp")
    set_state(campaign, "sent")
    delivery(campaign, hidden.email, contact=hidden, sent_at=T0)
    delivery(campaign, shown.email, contact=shown, sent_at=T0)

    response = marketer_client.post(
        f"/o/org-a/sending/campaigns/{campaign.pk}/report.csv", {CREDENTIAL_FIELD: PASSWORD}
    )

    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(body))][1:] == ["open@example.jp"]
    # With a grant on the list, the row appears.
    assign_perm("contacts.view_contactlist", marketer.user, secret)
    marketer = type(marketer).objects.get(pk=marketer.pk)
    assert [row[0] for row in _csv_rows(marketer, campaign)] == [
        "board@example.jp",
        "open@example.jp",
    ]


def _csv_rows(membership, campaign) -> list[list[str]]:
    export = reports.export_report_csv(membership, campaign)
    text = export.file.read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]


def test_csv_is_refused_without_contacts_export(sent_campaign, viewer_client, approver_client):
    url = f"/o/org-a/sending/campaigns/{sent_campaign.pk}/report.csv"

    assert viewer_client.post(url, {CREDENTIAL_FIELD: PASSWORD}).status_code == 403
    assert approver_client.get(url).status_code == 403
    assert not AuditEntry.objects.filter(action=Action.REPORT_EXPORTED).exists()


# --- Hot prospects ------------------------------------------------------------------------


def test_prospects_rank_clicks_over_opens_and_ignore_machines_and_old_events(
    campaign, admin, marketer, org_a
):
    now = timezone.now()
    set_state(campaign, "sent")
    secret = make_list(org_a, "Board", is_restricted=True)
    people = {
        "clicker": make_contact(org_a, "clicker@example.jp", last_name="山田"),
        "opener": make_contact(org_a, "opener@example.jp"),
        "both": make_contact(org_a, "both@example.jp", secret),
        "machine": make_contact(org_a, "machine@example.jp"),
        "old": make_contact(org_a, "old@example.jp"),
    }
    rows = {
        key: delivery(campaign, contact.email, contact=contact, sent_at=now)
        for key, contact in people.items()
    }
    recent = now - datetime.timedelta(days=2)
    event(rows["clicker"], "click", recent, url="https://shop.example/")
    event(rows["clicker"], "click", recent, url="https://shop.example/")
    for _ in range(3):
        event(rows["opener"], "open", recent)
    event(rows["both"], "click", now - datetime.timedelta(hours=1))
    event(rows["both"], "open", now - datetime.timedelta(hours=1))
    for _ in range(5):
        event(rows["machine"], "open", recent, is_machine=True)
    event(rows["old"], "click", now - datetime.timedelta(days=31))
    event(rows["old"], "unsubscribe", recent)

    ranked = reports.hot_prospects(admin, now=now)
    as_marketer = reports.hot_prospects(marketer, now=now)

    assert [(p.contact.email, p.score, p.clicks, p.opens) for p in ranked] == [
        ("clicker@example.jp", 6, 2, 0),
        ("both@example.jp", 4, 1, 1),
        ("opener@example.jp", 3, 0, 3),
    ]
    # The restricted list's contact is not the marketer's to see.
    assert [p.contact.email for p in as_marketer] == ["clicker@example.jp", "opener@example.jp"]


def test_delivery_events_have_a_valid_organisation_and_time_index():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'event_org_at'"
        )
        rows = cursor.fetchall()

    assert rows == [
        (
            "CREATE INDEX event_org_at ON public.delivery_deliveryevent "
            "USING btree (organization_id, at)",
            True,
        )
    ]


def test_prospects_can_read_events_through_the_organisation_and_time_index(campaign, admin, org_a):
    contact = make_contact(org_a, "lead@example.jp")
    event(delivery(campaign, contact.email, contact=contact), "open", timezone.now())
    with CaptureQueriesContext(connection) as queries:
        reports.hot_prospects(admin)
    (events_sql,) = [q["sql"] for q in queries if "delivery_deliveryevent" in q["sql"]]

    # The test tables are tiny, so the planner would scan them whole: take that choice
    # away and see which index it picks for the events of one organisation and period.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {events_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "event_org_at" in plan, plan


def test_prospects_page_shows_the_ranking(campaign, marketer_client, org_a):
    set_state(campaign, "sent")
    contact = make_contact(org_a, "lead@example.jp", last_name="佐藤", company="<b>ACME</b>")
    row = delivery(campaign, contact.email, contact=contact, sent_at=timezone.now())
    event(row, "click", timezone.now(), url="https://shop.example/")

    html = marketer_client.get("/o/org-a/sending/prospects/").content.decode()

    assert 'data-testid="score">3<' in html
    assert f'href="/o/org-a/contacts/{contact.pk}/"' in html
    assert "&lt;b&gt;ACME&lt;/b&gt;" in html and "<b>ACME</b>" not in html


# --- Dashboard and onboarding -------------------------------------------------------------


def _steps(membership) -> dict[str, bool]:
    return {step.key: step.done for step in reports.onboarding_steps(membership)}


def test_onboarding_of_a_new_organisation(admin, django_assert_num_queries):
    with django_assert_num_queries(5):
        steps = _steps(admin)

    assert steps == {
        "domain_added": False,
        "domain_verified": False,
        "relay": True,  # the platform's default relay needs nothing from them
        "footer": False,
        "contacts": False,
        "campaign": False,
    }
    assert not SenderProfile.objects.exists()  # looking does not create the profile


def test_onboarding_follows_each_step(admin, marketer, org_a):
    domain = SendingDomain.objects.create(
        organization=org_a, domain="shop.example", rsa_selector="s", rsa_public_key="k"
    )
    assert _steps(admin)["domain_added"] is True
    assert _steps(admin)["domain_verified"] is False
    SendingDomain.objects.filter(pk=domain.pk).update(status=DomainStatus.VERIFIED)
    relay = SmtpRelay.objects.create(organization=org_a, name="Own", host="smtp.example")
    assert _steps(admin)["relay"] is False  # in use but never tested
    SmtpRelay.objects.filter(pk=relay.pk).update(last_test_ok=True)
    profile = SenderProfile.for_organization(org_a)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.save()
    contact_list = make_list(org_a)
    make_contact(org_a, "a@example.jp", contact_list)
    campaign = make_campaign(marketer, contact_list)
    assert _steps(admin)["campaign"] is False
    Campaign.objects.filter(pk=campaign.pk).update(approved_at=timezone.now())

    assert set(_steps(admin).values()) == {True}


def test_dashboard_shows_the_checklist_with_links_for_who_may_act(admin_client, viewer_client):
    as_admin = admin_client.get("/o/org-a/").content.decode()
    as_viewer = viewer_client.get("/o/org-a/").content.decode()

    assert 'data-testid="onboarding"' in as_admin
    assert '<a href="/o/org-a/sending/domains/">Add a sending domain</a>' in as_admin
    assert '<a href="/o/org-a/campaigns/settings/">Fill in the footer details</a>' in as_admin
    assert "Add a sending domain <span" in as_viewer  # no link: an admin does this
    assert '<a href="/o/org-a/sending/domains/">' not in as_viewer


def test_dashboard_shows_sends_this_month_and_last_campaigns(sent_campaign, admin_client, org_a):
    Delivery.objects.filter(campaign=sent_campaign).update(queued_at=timezone.now())
    org_a.monthly_send_limit = 100
    org_a.save()

    html = admin_client.get("/o/org-a/").content.decode()

    # Ten frozen, less the suppressed one: nine count against the limit.
    assert 'data-testid="sends-this-month">9 of 100 messages<' in html
    assert 'data-testid="open-rate">50.0 %<' in html
    assert 'data-testid="click-rate">16.7 %<' in html
