"""The pre-send check: the footer and every finding, one by one."""

from __future__ import annotations

import datetime
import shutil

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import hooks, services
from campaigns.checks import run_checks
from campaigns.hooks import DomainStatus
from campaigns.models import Campaign, Layout
from campaigns.rendering import render_for_contact
from campaigns.spam import mime_message, spam_score
from tests.campaigns.conftest import make_campaign, verified

pytestmark = pytest.mark.django_db

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def _codes(campaign, **kwargs):
    kwargs.setdefault("spam", False)
    return {f.code: f for f in run_checks(campaign, **kwargs).findings}


def _unsaved(campaign, **fields):
    """``campaign`` with ``fields`` changed in memory (checks look at what they get)."""
    for name, value in fields.items():
        setattr(campaign, name, value)
    return campaign


def test_a_good_campaign_has_no_findings(campaign):
    report = run_checks(campaign)

    assert [f.code for f in report.findings] == []
    assert report.recipient_count == 3
    assert report.ok
    assert report.spam.score is not None
    assert report.spam.score < 5
    assert report.domain == verified(None, "news@shop.example")


# --- The required footer ----------------------------------------------------------------


def test_a_campaign_without_the_footer_lacks_every_part(campaign):
    _unsaved(campaign, html_body="<p>{{ contact.last_name }} 様</p>")

    findings = _codes(campaign)

    assert set(findings) == {
        "footer_sender_name",
        "footer_postal_address",
        "footer_complaints",
        "unsubscribe_link",
        "refusal_statement",
    }
    assert all(f.blocking for f in findings.values())
    assert findings["footer_postal_address"].message == (
        "The postal address is missing from the HTML and text part. Add {{ footer }}."
    )


@pytest.mark.parametrize(
    ("missing", "code"),
    [
        ("sender", "footer_sender_name"),
        ("address", "footer_postal_address"),
        ("complaints", "footer_complaints"),
        ("unsubscribe", "unsubscribe_link"),
        ("refusal", "refusal_statement"),
    ],
)
def test_each_footer_part_is_required(campaign, profile, missing, code):
    parts = {
        "sender": "{{ sender.name }}",
        "address": "{{ sender.postal_address }}",
        "complaints": "お問い合わせ: {{ sender.complaints_contact }}",
        "unsubscribe": '<a href="{{ unsubscribe_url }}">こちら</a>',
        "refusal": "今後の配信を希望されない場合は配信停止の手続きをしてください。",
    }
    del parts[missing]
    _unsaved(campaign, html_body="<p>本文</p><footer>" + "<br>".join(parts.values()) + "</footer>")

    findings = _codes(campaign)

    assert set(findings) == {code}


def test_a_hand_written_footer_counts_when_it_has_every_part(campaign):
    _unsaved(
        campaign,
        html_body=(
            "<p>本文</p><p>{{ sender.name }}<br>{{ sender.postal_address }}<br>"
            "お問い合わせ: {{ sender.complaints_contact }}</p>"
            '<p>配信停止は<a href="{{ unsubscribe_url }}">こちら</a></p>'
        ),
    )

    assert _codes(campaign) == {}


def test_a_text_body_without_the_footer_is_caught_even_if_the_html_has_it(campaign):
    _unsaved(campaign, text_body="{{ contact.last_name }}様\n本文です。")

    findings = _codes(campaign)

    assert findings["footer_sender_name"].message == (
        "The sender name is missing from the text part. Add {{ footer }}."
    )
    assert findings["unsubscribe_link"].message == (
        "The unsubscribe link ({{ unsubscribe_url }}) is missing from the text part."
    )


def test_the_footer_may_come_from_the_layout(campaign, marketer):
    layout = Layout.objects.create(
        organization=campaign.organization, name="L", html="<main>{{ content }}</main>{{ footer }}"
    )
    _unsaved(campaign, html_body="<p>本文</p>", layout=layout)

    assert _codes(campaign) == {}


def test_an_organisation_without_a_footer_is_told_to_set_it_up(campaign, profile):
    profile.sender_name = ""
    profile.save()

    findings = _codes(campaign)

    assert findings["footer_settings"].message == (
        "The organisation's footer is not set up (campaign settings): sender name."
    )


def test_a_campaign_lacking_the_footer_cannot_be_submitted(campaign, marketer):
    campaign = _unsaved(campaign, html_body="<p>{{ contact.last_name }} 様</p>")
    campaign.save()

    with pytest.raises(ValidationError) as error:
        services.submit_campaign(marketer, campaign)

    assert len(error.value.messages) == 5
    assert Campaign.objects.get(pk=campaign.pk).state == "draft"


# --- The other findings -------------------------------------------------------------------


def test_an_empty_text_part_is_blocking(campaign):
    _unsaved(campaign, html_body="", text_body="")

    assert _codes(campaign)["text_part"].blocking


def test_links_to_http_are_a_warning(campaign):
    _unsaved(
        campaign,
        html_body='<a href="http://shop.example/sale">sale</a>{{ footer }}',
        text_body="http://shop.example/text\n{{ footer }}",
    )

    finding = _codes(campaign)["insecure_links"]

    assert finding.severity == "warning"
    assert finding.details == ("http://shop.example/sale", "http://shop.example/text")


@pytest.mark.parametrize("url", ["https://192.0.2.10/login", "https://[2001:db8::1]/x"])
def test_links_to_raw_ip_addresses_are_a_warning(campaign, url):
    _unsaved(campaign, html_body=f'<a href="{url}">account</a>{{{{ footer }}}}')

    finding = _codes(campaign)["ip_links"]

    assert finding.details == (url,)
    assert finding.severity == "warning"


def test_images_without_alt_text_are_a_warning(campaign):
    _unsaved(
        campaign,
        html_body='<img src="https://shop.example/a.png"><img src="https://shop.example/b.png" '
        'alt="春"><img src="https://shop.example/c.png" alt="">{{ footer }}',
    )

    finding = _codes(campaign)["image_alt"]

    assert finding.details == ("https://shop.example/a.png", "https://shop.example/c.png")


def test_a_message_over_100_kb_is_a_warning(campaign):
    _unsaved(campaign, html_body="<p>" + "あ" * 40_000 + "</p>{{ footer }}")

    finding = _codes(campaign)["size"]

    assert finding.message == "The HTML is 118 KB; Gmail cuts messages off at 102 KB."


def test_an_empty_subject_is_blocking(campaign):
    _unsaved(campaign, subject="  ")

    assert _codes(campaign)["subject_empty"].blocking


def test_a_subject_over_100_characters_is_a_warning(campaign):
    _unsaved(campaign, subject="あ" * 101)

    finding = _codes(campaign)["subject_long"]

    assert finding.severity == "warning"
    assert "101 characters" in finding.message


def test_a_missing_from_address_is_blocking(campaign):
    _unsaved(campaign, from_address="")

    assert _codes(campaign)["from_address"].blocking


def test_an_empty_audience_is_blocking(campaign):
    campaign.include_lists.clear()

    assert _codes(campaign)["audience_empty"].message == "The audience has no recipients."


def test_a_past_send_time_is_a_warning(campaign):
    _unsaved(campaign, send_at=timezone.now() - datetime.timedelta(hours=1))

    assert _codes(campaign)["send_at_past"].severity == "warning"


def test_a_template_error_is_blocking_with_its_line(campaign):
    _unsaved(campaign, html_body="<p>a</p>\n{{ contact.email }")

    finding = _codes(campaign)["template"]

    assert finding.message == "HTML body: Line 2: unexpected '}'"


def test_iso_2022_jp_problems_are_blocking(campaign):
    _unsaved(campaign, charset="iso-2022-jp", subject="①のお知らせ")

    finding = _codes(campaign)["charset"]

    assert finding.details == ("①",)


# --- The From domain (delivery's hook) ---------------------------------------------------


def test_without_a_domain_checker_the_check_says_domains_are_not_set_up(
    marketer, customers, profile
):
    campaign = make_campaign(marketer, customers)

    with hooks.registered():
        finding = _codes(campaign)["domain_unavailable"]

    assert finding.blocking
    assert finding.message == (
        "Sending domains are not set up yet, so the From domain cannot be verified."
    )


def test_an_unverified_from_domain_is_blocking(campaign):
    def unverified(organization, address):
        return DomainStatus(
            "shop.example", verified=False, dmarc_aligned=False, message="DKIM record not found"
        )

    with hooks.registered(domain_checker=unverified):
        finding = _codes(campaign)["domain_unverified"]

    assert finding.message == "shop.example is not a verified sending domain of the organisation."
    assert finding.details == ("DKIM record not found",)


def test_a_from_domain_not_dmarc_aligned_is_blocking(campaign):
    def unaligned(organization, address):
        return DomainStatus("shop.example", verified=True, dmarc_aligned=False)

    with hooks.registered(domain_checker=unaligned):
        assert _codes(campaign)["dmarc_unaligned"].blocking


def test_the_checker_receives_the_organisation_and_address(campaign, org_a):
    calls = []

    def checker(organization, address):
        calls.append((organization, address))
        return verified(organization, address)

    with hooks.registered(domain_checker=checker):
        run_checks(campaign, spam=False)

    assert calls == [(org_a, "news@shop.example")]


def test_a_failing_checker_is_reported_not_raised(campaign):
    def broken(organization, address):
        raise RuntimeError("resolver down")

    with hooks.registered(domain_checker=broken):
        finding = _codes(campaign)["domain_unverified"]

    assert finding.details == ("The domain check failed: resolver down",)


# --- SpamAssassin (Debian's, local tests only) ---------------------------------------------


@pytest.fixture
def spamassassin():
    """Debian's spamassassin, which .ci/run installs: missing is a failure, not a skip."""
    if not shutil.which("spamassassin"):
        pytest.fail("spamassassin is not installed: apt-get install spamassassin (.ci/run does)")


def test_spamassassin_scores_a_spammy_message_as_a_warning(spamassassin, campaign):
    _unsaved(campaign, html_body=f"<p>{GTUBE}</p>{{{{ footer }}}}")

    report = run_checks(campaign, spam=True)
    finding = {f.code: f for f in report.findings}["spam_score"]

    assert finding.severity == "warning"
    assert report.spam.score >= 1000
    assert any("GTUBE" in detail for detail in finding.details)


def test_spamassassin_parses_score_and_rules(spamassassin, campaign):
    message = render_for_contact(campaign, {"last_name": "山田", "attributes": {}})

    result = spam_score(mime_message(message))

    assert result.available
    assert result.required == 5.0
    assert result.score < 5
    assert all(isinstance(name, str) and name.isupper() for _points, name, _text in result.rules)


def test_spamassassin_missing_is_a_warning_not_a_failure(campaign, settings):
    settings.SPAMASSASSIN_BIN = "/nonexistent/spamassassin"

    finding = {f.code: f for f in run_checks(campaign, spam=True).findings}["spam_unavailable"]

    assert finding.severity == "warning"


def test_spamassassin_times_out_cleanly(tmp_path, settings):
    slow = tmp_path / "spamassassin"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    settings.SPAMASSASSIN_BIN = str(slow)

    result = spam_score(b"Subject: x\r\n\r\nhello unique 8c1f\r\n", timeout=0.5)

    assert result.score is None
    assert result.error == "spamassassin took longer than 0.5 s"


def test_a_header_line_break_saved_by_another_door_is_a_render_finding(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(from_name="Shop\r\nBcc: all@example.com")
    campaign.refresh_from_db()

    finding = _codes(campaign)["render"]

    assert finding.blocking
    assert finding.message == (
        "The From name contains a line break, which could inject mail headers."
    )


def test_an_audience_that_cannot_be_counted_is_blocking(campaign, org_a):
    from contacts.models import CustomField
    from segments.models import Segment
    from tests.campaigns.conftest import make_contact

    CustomField.objects.create(organization=org_a, key="birthday", label="B", field_type="date")
    make_contact(org_a, "feb@example.jp", attributes={"birthday": "2023-02-30"})
    segment = Segment.objects.create(
        organization=org_a,
        name="Old",
        rules={
            "match": "all",
            "rules": [{"field": "attr:birthday", "op": "lt", "value": "2024-01-01"}],
        },
    )
    campaign.include_segments.add(segment)

    finding = _codes(campaign)["audience_error"]

    assert finding.blocking
    assert "not a real day" in finding.message
