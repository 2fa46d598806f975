"""What recipients reach from a message: signed click links, the open pixel and RFC 8058
one-click unsubscribe, on messages the send engine really built and a real STARTTLS relay
received, followed with Django's test client (no session, no cookies)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from contacts.models import Suppression
from delivery import engine
from delivery.models import Delivery, DeliveryEvent
from tests.delivery.helpers import approved_campaign, one_click_unsubscribe

pytestmark = pytest.mark.django_db

BODY = (
    "<p>{{ contact.last_name }} 様</p>\n"
    '<p><a href="https://shop.example/sale">セール</a></p>\n'
    '<p><a class="button" href="https://shop.example/item?id=1&amp;ref=mail">商品</a></p>\n'
    "<p><a href='https://shop.example/about'>会社案内</a></p>\n"
    '<p><a href="mailto:support@shop.example">お問い合わせ</a></p>\n'
    "{{ footer }}\n"
)
_HREF = re.compile(r"""href=(["'])(.*?)\1""")


@pytest.fixture
def sent(sending_domain, relay, profile, customers, marketer, approver):
    """The campaign sent to the three customers: {address: (delivery, html part)}."""
    campaign = approved_campaign(marketer, approver, customers, html_body=BODY)
    engine.dispatch_due_campaigns()
    for pk in Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True):
        assert engine.send_one(pk).status == "sent"
    # Sent an hour ago: an open or click within seconds of sending is a scanner's.
    Delivery.objects.filter(campaign=campaign).update(sent_at=timezone.now() - timedelta(hours=1))
    received = {}
    for _mail_from, rcpt_tos, raw, _tls in relay.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        html = message.get_body(preferencelist=("html",)).get_content()
        received[rcpt_tos[0]] = (Delivery.objects.get(campaign=campaign, address=rcpt_tos[0]), html)
    return received


def _hrefs(html: str) -> list[str]:
    return [
        value.replace("&amp;", "&") for _quote, value in _HREF.findall(html.split("<body", 1)[1])
    ]


def _path(url: str) -> str:
    assert url.startswith(settings.SITE_URL + "/")
    return url[len(settings.SITE_URL) :]


def test_every_web_link_becomes_a_signed_click_link_but_unsubscribe(sent):
    delivery, html = sent["yamada@example.jp"]
    hrefs = _hrefs(html)
    clicks = [h for h in hrefs if h.startswith(f"{settings.SITE_URL}/t/c/{delivery.token}/")]

    assert len(clicks) == 3
    assert all(re.fullmatch(r"/t/c/[0-9a-f]{32}/[\w-]+/[\w-]{22}", _path(h)) for h in clicks)
    assert "mailto:support@shop.example" in hrefs
    assert f"{settings.SITE_URL}/u/{delivery.token}/" in hrefs
    assert not [h for h in hrefs if h.startswith("https://shop.example")]
    assert f'src="{settings.SITE_URL}/t/o/{delivery.token}.gif"' in html


def test_a_click_link_redirects_to_exactly_its_destination_and_counts_the_click(sent):
    delivery, html = sent["yamada@example.jp"]
    clicks = [h for h in _hrefs(html) if "/t/c/" in h]

    locations = [Client().get(_path(link))["Location"] for link in clicks]

    assert locations == [
        "https://shop.example/sale",
        "https://shop.example/item?id=1&ref=mail",
        "https://shop.example/about",
    ]
    events = DeliveryEvent.objects.filter(delivery=delivery, kind="click").order_by("pk")
    assert [(e.url, e.is_machine) for e in events] == [(url, False) for url in locations]
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None and delivery.opened_at == delivery.clicked_at


def test_an_altered_click_link_is_not_found_and_counts_nothing(sent):
    _yamada, yamada_html = sent["yamada@example.jp"]
    sato, sato_html = sent["sato@example.jp"]
    link = _path(next(h for h in _hrefs(yamada_html) if "/t/c/" in h))
    _t, _c, token, encoded, signature = link.strip("/").split("/")
    evil = "aHR0cHM6Ly9ldmlsLmV4YW1wbGUv"  # base64url of https://evil.example/
    other = _path(next(h for h in _hrefs(sato_html) if "/t/c/" in h))

    altered = [
        # another destination with the same signature; the signature's last character
        # changed; another recipient's token; a token naming nobody; no signature; not
        # base64
        f"/t/c/{token}/{evil}/{signature}",
        f"/t/c/{token}/{encoded}/{signature[:-1]}{'B' if signature.endswith('A') else 'A'}",
        f"/t/c/{sato.token}/{encoded}/{signature}",
        f"/t/c/{'0' * 32}/{encoded}/{signature}",
        f"/t/c/{token}/{encoded}",
        f"/t/c/{token}/%%%/{signature}",
    ]

    responses = [Client().get(path) for path in altered]

    assert [r.status_code for r in responses] == [404] * len(altered)
    assert [r.get("Location") for r in responses] == [None] * len(altered)
    assert not DeliveryEvent.objects.filter(kind="click").exists()
    assert Client().get(other).status_code == 302  # Sato's own link still works


def test_the_open_pixel_counts_a_person_and_flags_a_scanner(sent):
    delivery, _html = sent["yamada@example.jp"]
    scanner, _ = sent["sato@example.jp"]
    Delivery.objects.filter(pk=scanner.pk).update(sent_at=timezone.now())

    person = Client().get(f"/t/o/{delivery.token}.gif")
    early = Client().get(f"/t/o/{scanner.token}.gif")
    unknown = Client().get(f"/t/o/{'f' * 32}.gif")

    assert [r.status_code for r in (person, early, unknown)] == [200, 200, 200]
    assert {r["Content-Type"] for r in (person, early, unknown)} == {"image/gif"}
    opens = DeliveryEvent.objects.filter(kind="open").order_by("pk")
    assert [(e.delivery_id, e.is_machine) for e in opens] == [
        (delivery.pk, False),
        (scanner.pk, True),
    ]
    delivery.refresh_from_db()
    scanner.refresh_from_db()
    assert (delivery.opened_at is not None, scanner.opened_at) == (True, None)


def test_one_click_unsubscribe_needs_no_cookie_answers_200_and_suppresses(sent, org_a):
    delivery, _html = sent["yamada@example.jp"]

    one_click_unsubscribe(delivery.token)

    suppression = Suppression.objects.active().get(organization=org_a)
    assert (suppression.address, suppression.reason) == ("yamada@example.jp", "unsubscribed")
    entry = AuditEntry.objects.get(action="unsubscribed")
    assert (entry.organization, entry.details["one_click"]) == (org_a, True)
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    # A second POST (providers retry) changes nothing more.
    one_click_unsubscribe(delivery.token)
    assert Suppression.objects.filter(organization=org_a).count() == 1
    assert AuditEntry.objects.filter(action="unsubscribed").count() == 1


def test_following_the_unsubscribe_link_changes_nothing(sent, org_a):
    delivery, _html = sent["yamada@example.jp"]

    response = Client().get(f"/u/{delivery.token}/")

    assert response.status_code == 200
    assert "yamada@example.jp" in response.content.decode()
    assert not Suppression.objects.filter(organization=org_a).exists()
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is None
    assert not DeliveryEvent.objects.filter(kind="unsubscribe").exists()


@pytest.mark.parametrize("token", ["0" * 32, "not-a-token", "F" * 32])
def test_an_unsubscribe_link_that_names_nobody_is_not_found(sent, token, org_a):
    get = Client().get(f"/u/{token}/")
    post = Client().post(f"/u/{token}/", {"List-Unsubscribe": "One-Click"})

    assert (get.status_code, post.status_code) == (404, 404)
    assert not Suppression.objects.filter(organization=org_a).exists()
