"""Campaign fixtures on top of the shared personas (tests/conftest.py).

The delivery app, which will register the From-domain checker and the test sender
(``campaigns.hooks``), does not exist yet; ``verified_domain`` and ``test_outbox``
stand in for it. Everything else is the real code path.
"""

from __future__ import annotations

import pytest

from campaigns import hooks, services
from campaigns.hooks import DomainStatus, TestSendResult
from campaigns.models import SenderProfile
from contacts.models import Contact, ContactList, ListMembership

FOOTER = {
    "sender_name": "株式会社たより商店",
    "postal_address": "〒100-0001\n東京都千代田区千代田1-1",
    "complaints_contact": "support@shop.example",
}


def make_contact(organization, email: str, contact_list=None, **fields) -> Contact:
    fields.setdefault("consent_method", "import")
    contact = Contact.objects.create(organization=organization, email=email, **fields)
    if contact_list is not None:
        ListMembership.objects.create(
            organization=organization, contact=contact, contact_list=contact_list
        )
    return contact


def make_list(organization, name: str = "Customers", **fields) -> ContactList:
    return ContactList.objects.create(organization=organization, name=name, **fields)


def campaign_input(contact_list=None, **fields) -> services.CampaignInput:
    values = {
        "name": "Spring sale",
        "subject": "{{ contact.last_name }}様 春のセールのお知らせ",
        "preheader": "全品10%オフ",
        "from_name": "たより商店",
        "from_address": "news@shop.example",
        "reply_to": "support@shop.example",
        "html_body": (
            "<p>{{ contact.last_name }} {{ contact.first_name }} 様</p>\n"
            '<p>春のセールを開催します。<a href="https://shop.example/sale">詳しくはこちら</a></p>\n'
            "{{ footer }}\n"
        ),
        "include_lists": [contact_list] if contact_list is not None else [],
    }
    values.update(fields)
    return services.CampaignInput(**values)


def make_campaign(membership, contact_list=None, **fields):
    return services.create_campaign(membership, campaign_input(contact_list, **fields))


def edit(membership, campaign, **fields):
    """Save the campaign with ``fields`` changed, as the editor would."""
    campaign.refresh_from_db()
    data = services.CampaignInput(
        name=campaign.name,
        subject=campaign.subject,
        preheader=campaign.preheader,
        from_name=campaign.from_name,
        from_address=campaign.from_address,
        reply_to=campaign.reply_to,
        html_body=campaign.html_body,
        text_body=campaign.text_body,
        layout=campaign.layout,
        include_lists=list(campaign.include_lists.all()),
        exclude_lists=list(campaign.exclude_lists.all()),
        include_segments=list(campaign.include_segments.all()),
        exclude_segments=list(campaign.exclude_segments.all()),
        send_at=campaign.send_at,
        charset=campaign.charset,
    )
    for name, value in fields.items():
        setattr(data, name, value)
    return services.update_campaign(membership, campaign, data)


def verified(organization, address: str) -> DomainStatus:
    return DomainStatus(domain=address.rpartition("@")[2], verified=True, dmarc_aligned=True)


@pytest.fixture
def profile(org_a):
    profile = SenderProfile.for_organization(org_a)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.test_addresses = "qa@shop.example\n# a comment\nboss@partner.example"
    profile.save()
    return profile


@pytest.fixture
def customers(org_a):
    contact_list = make_list(org_a)
    make_contact(org_a, "yamada@example.jp", contact_list, last_name="山田", first_name="太郎")
    make_contact(org_a, "sato@example.jp", contact_list, last_name="佐藤", first_name="花子")
    make_contact(org_a, "suzuki@example.jp", contact_list, last_name="鈴木", first_name="一郎")
    return contact_list


@pytest.fixture
def verified_domain():
    """Delivery's domain checker, standing in: every From domain verified and aligned."""
    with hooks.registered(domain_checker=verified):
        yield


@pytest.fixture
def test_outbox(verified_domain):
    """Delivery's test sender, standing in: records what it was asked to send."""
    sent = []

    def sender(campaign, message, recipient):
        sent.append((recipient, message))
        return TestSendResult(recipient=recipient, ok=True, message="250 OK")

    with hooks.registered(domain_checker=verified, test_sender=sender):
        yield sent


@pytest.fixture
def campaign(marketer, customers, profile, verified_domain):
    return make_campaign(marketer, customers)


@pytest.fixture
def submitted(campaign, marketer):
    return services.submit_campaign(marketer, campaign)
