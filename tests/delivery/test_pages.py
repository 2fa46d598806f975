"""The sending pages: access (outsider 404, role without the permission 403), the
domain and relay forms with their specific errors, real DNS checks and real relay tests,
and query counts pinned on the list pages."""

from __future__ import annotations

import re

import pytest
from django.utils.html import escape

from audit.models import AuditEntry
from campaigns.models import Campaign
from delivery.models import SendingDomain, SmtpRelay
from delivery.services import add_sending_domain, dns_records
from delivery.tls import server_tls_context
from tests.campaigns.conftest import make_campaign, make_contact, make_list
from tests.servers import RecordingHandler, running_plain_smtp, running_relay

pytestmark = pytest.mark.django_db

BASE = "/o/org-a/sending"


@pytest.fixture
def domain(admin):
    return add_sending_domain(admin, "shop.example")


@pytest.fixture
def own_relay(org_a):
    return SmtpRelay.objects.create(
        organization=org_a, name="Office", host="smtp.shop.example", password="s3cret-pass"
    )


@pytest.fixture
def campaign(marketer, org_a):
    return make_campaign(marketer, make_list(org_a))


def _urls(domain, own_relay, campaign) -> list[tuple[str, str, str]]:
    """(method, URL, permission) for every sending page."""
    return [
        ("get", f"{BASE}/domains/", "domains.manage"),
        ("post", f"{BASE}/domains/add/", "domains.manage"),
        ("get", f"{BASE}/domains/{domain.pk}/", "domains.manage"),
        ("post", f"{BASE}/domains/{domain.pk}/verify/", "domains.manage"),
        ("post", f"{BASE}/domains/{domain.pk}/remove/", "domains.manage"),
        ("get", f"{BASE}/relays/", "relays.manage"),
        ("get", f"{BASE}/relays/add/", "relays.manage"),
        ("post", f"{BASE}/relays/add/", "relays.manage"),
        ("get", f"{BASE}/relays/{own_relay.pk}/", "relays.manage"),
        ("post", f"{BASE}/relays/{own_relay.pk}/", "relays.manage"),
        ("post", f"{BASE}/relays/{own_relay.pk}/test/", "relays.manage"),
        ("post", f"{BASE}/relays/{own_relay.pk}/remove/", "relays.manage"),
        ("get", f"{BASE}/campaigns/{campaign.pk}/progress/", "reports.view"),
        ("get", f"{BASE}/campaigns/{campaign.pk}/report.csv", "contacts.export"),
        ("post", f"{BASE}/campaigns/{campaign.pk}/report.csv", "contacts.export"),
        ("get", f"{BASE}/prospects/", "contacts.view"),
    ]


def test_every_page_is_not_found_for_an_outsider(domain, own_relay, campaign, outsider_client):
    for method, url, _perm in _urls(domain, own_relay, campaign):
        response = getattr(outsider_client, method)(url)
        assert response.status_code == 404, (method, url)
    # Nothing changed on the way.
    assert SendingDomain.objects.filter(pk=domain.pk).exists()
    assert SmtpRelay.objects.filter(pk=own_relay.pk).exists()


def test_every_page_is_forbidden_to_roles_without_its_permission(
    domain, own_relay, campaign, marketer_client, approver_client, viewer_client
):
    from accounts.roles import ROLE_PERMISSIONS

    clients = {"marketer": marketer_client, "approver": approver_client, "viewer": viewer_client}
    checked = 0
    for method, url, perm in _urls(domain, own_relay, campaign):
        for role, client in clients.items():
            if perm in ROLE_PERMISSIONS[role]:
                continue
            response = getattr(client, method)(url)
            assert response.status_code == 403, (role, method, url)
            checked += 1
    assert checked == 12 * 3 + 2 + 2 + 1  # domains and relays; the CSV; prospects
    assert SendingDomain.objects.filter(pk=domain.pk).exists()
    assert SmtpRelay.objects.filter(pk=own_relay.pk).exists()


def test_another_organisations_objects_are_not_found_through_ours(admin_client, outsider, org_b):
    theirs = add_sending_domain(outsider, "their.example")
    their_relay = SmtpRelay.objects.create(organization=org_b, name="Theirs", host="smtp.b")
    their_campaign = make_campaign(outsider, make_list(org_b))

    assert admin_client.get(f"{BASE}/domains/{theirs.pk}/").status_code == 404
    assert admin_client.post(f"{BASE}/domains/{theirs.pk}/remove/").status_code == 404
    assert admin_client.get(f"{BASE}/relays/{their_relay.pk}/").status_code == 404
    assert admin_client.post(f"{BASE}/relays/{their_relay.pk}/test/").status_code == 404
    assert admin_client.get(f"{BASE}/campaigns/{their_campaign.pk}/progress/").status_code == 404
    assert SendingDomain.objects.filter(pk=theirs.pk).exists()


def test_anonymous_visitors_are_sent_to_login(client, domain):
    response = client.get(f"{BASE}/domains/{domain.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_nav_shows_sending_to_admins_and_prospects_to_contact_viewers(
    admin_client, marketer_client, viewer_client
):
    admin_page = admin_client.get("/o/org-a/").content.decode()
    marketer_page = marketer_client.get("/o/org-a/").content.decode()
    viewer_page = viewer_client.get("/o/org-a/").content.decode()

    assert f'<a href="{BASE}/domains/">Sending</a>' in admin_page
    assert f'<a href="{BASE}/domains/">Sending</a>' not in marketer_page
    assert f'<a href="{BASE}/prospects/">Prospects</a>' in marketer_page
    assert f'<a href="{BASE}/prospects/">Prospects</a>' not in viewer_page


# --- Sending domains ------------------------------------------------------------------


def test_adding_a_domain_generates_keys_and_shows_its_records(admin_client, org_a):
    response = admin_client.post(f"{BASE}/domains/add/", {"domain": " Mail.Shop.Example. "})

    domain = SendingDomain.objects.get(organization=org_a)
    assert domain.domain == "mail.shop.example"
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/domains/{domain.pk}/"
    html = admin_client.get(response["Location"]).content.decode()
    for record in dns_records(domain):
        assert f">{record['name']}</code>" in html
        assert f">{record['value']}</code>" in html
    assert "mail.shop.example added. Publish the DNS records below, then press Verify." in html
    assert domain.rsa_private_key not in html
    assert domain.ed25519_private_key not in html
    assert "PRIVATE KEY" not in html
    assert "<script>" not in html and "style=" not in html
    assert list(
        AuditEntry.objects.filter(organization=org_a, target_type="delivery.sendingdomain")
        .order_by("seq")
        .values_list("action", flat=True)
    ) == ["sending_domain_added", "dkim_key_generated"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://shop.example/", "Enter a domain name only, like mail.example.co.jp."),
        ("news@shop.example", "Enter a domain name only, like mail.example.co.jp."),
        ("localhost", "localhost is not a valid domain name."),
        ("a..example", "a..example is not a valid domain name."),
        ("", "This field is required."),
        ("x" * 254, "Ensure this value has at most 253 characters (it has 254)."),
    ],
)
def test_adding_a_bad_domain_says_why(admin_client, value, message):
    response = admin_client.post(f"{BASE}/domains/add/", {"domain": value})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SendingDomain.objects.exists()


def test_adding_a_domain_twice_is_refused(admin_client, domain):
    response = admin_client.post(f"{BASE}/domains/add/", {"domain": "SHOP.example"})

    assert response.status_code == 400
    assert "shop.example is already one of your sending domains." in response.content.decode()
    assert SendingDomain.objects.count() == 1


def test_japanese_domain_is_stored_in_its_ascii_form(admin_client, org_a):
    admin_client.post(f"{BASE}/domains/add/", {"domain": "例え.jp"})

    assert SendingDomain.objects.get(organization=org_a).domain == "xn--r8jz45g.jp"


def test_verify_with_the_records_published_verifies(admin_client, domain, dns_zone):
    for record in dns_records(domain):
        dns_zone.setdefault(record["name"], []).append(record["value"])

    response = admin_client.post(f"{BASE}/domains/{domain.pk}/verify/", follow=True)

    domain.refresh_from_db()
    assert domain.status == "verified"
    html = response.content.decode()
    assert "shop.example is verified." in html
    assert '<span class="badge domain-verified" data-testid="status">Verified</span>' in html
    assert html.count('<span class="badge check-ok">OK</span>') == 4
    assert AuditEntry.objects.filter(action="sending_domain_verified").count() == 1


def test_verify_without_records_shows_what_is_missing(admin_client, domain, dns_zone):
    dns_zone[f"{domain.rsa_selector}._domainkey.shop.example"] = ["v=DKIM1; k=rsa; p=WRONG"]

    response = admin_client.post(f"{BASE}/domains/{domain.pk}/verify/", follow=True)

    domain.refresh_from_db()
    assert domain.status == "failed"
    html = response.content.decode()
    assert "shop.example is not verified yet: see what is missing below." in html
    assert '<span class="badge check-wrong">Wrong</span>' in html
    assert '<span class="badge check-missing">Missing</span>' in html
    assert '<code class="small found">v=DKIM1; k=rsa; p=WRONG</code>' in html
    for check in domain.check_results:
        assert escape(check["message"]) in html


def test_removing_a_domain_deletes_it_and_is_audited(admin_client, domain, org_a):
    response = admin_client.post(f"{BASE}/domains/{domain.pk}/remove/")

    assert response.status_code == 302 and response["Location"] == f"{BASE}/domains/"
    assert not SendingDomain.objects.exists()
    assert AuditEntry.objects.filter(action="sending_domain_removed", organization=org_a).exists()


def test_removing_needs_a_post(admin_client, domain):
    assert admin_client.get(f"{BASE}/domains/{domain.pk}/remove/").status_code == 405
    assert SendingDomain.objects.filter(pk=domain.pk).exists()


def test_domain_list_escapes_nothing_dangerous_and_lists_statuses(admin_client, admin, org_a):
    add_sending_domain(admin, "a.example")
    SendingDomain.objects.filter(domain="a.example").update(status="verified")
    add_sending_domain(admin, "b.example")

    html = admin_client.get(f"{BASE}/domains/").content.decode()

    assert 'data-testid="status-a.example">Verified<' in html
    assert 'data-testid="status-b.example">Waiting for DNS records<' in html


def test_domain_list_query_count_does_not_grow_with_domains(
    admin_client, org_a, django_assert_num_queries
):
    admin_client.get(f"{BASE}/domains/")  # the session's first request also writes it
    for i in range(1, 5):
        SendingDomain.objects.create(
            organization=org_a, domain=f"d{i}.example", rsa_selector="s", rsa_public_key="k"
        )
        # session, user, 2FA device, membership, domains, the nav's memberships
        with django_assert_num_queries(6):
            response = admin_client.get(f"{BASE}/domains/")
        assert response.content.decode().count('data-testid="status-d') == i


# --- SMTP relays ----------------------------------------------------------------------


def _relay_data(**fields) -> dict:
    data = {
        "name": "Office relay",
        "host": "smtp.shop.example",
        "port": "587",
        "security": "starttls",
        "username": "mailer",
        "password": "first-password",
        "ca_bundle": "",
        "max_connections": "4",
        "rate_per_second": "50",
        "is_active": "on",
    }
    data.update(fields)
    return data


def test_relay_list_says_the_platform_default_is_in_use_without_relays(admin_client):
    html = admin_client.get(f"{BASE}/relays/").content.decode()

    assert "Campaigns send through the Platform default relay." in html
    assert 'data-testid="no-relays"' in html


def test_the_first_active_relay_is_marked_in_use(admin_client, org_a):
    SmtpRelay.objects.create(organization=org_a, name="Off", host="h0", is_active=False)
    first = SmtpRelay.objects.create(organization=org_a, name="Zeta", host="h1")
    SmtpRelay.objects.create(organization=org_a, name="Alpha", host="h2")

    html = admin_client.get(f"{BASE}/relays/").content.decode()

    assert "Campaigns send through <strong>Zeta</strong> (h1:587)." in html
    assert html.count('data-testid="in-use-badge"') == 1
    row = html.split(f'data-testid="relay-{first.pk}"')[1].split("</tr>")[0]
    assert 'data-testid="in-use-badge"' in row


def test_adding_a_relay_stores_it_with_its_password_and_audits(admin_client, org_a):
    response = admin_client.post(f"{BASE}/relays/add/", _relay_data())

    assert response.status_code == 302
    relay = SmtpRelay.objects.get(organization=org_a)
    assert (relay.host, relay.port, relay.username, relay.password) == (
        "smtp.shop.example",
        587,
        "mailer",
        "first-password",
    )
    entry = AuditEntry.objects.get(action="relay_created")
    assert entry.details["password_changed"] is True
    assert "first-password" not in str(entry.details)


def test_a_never_tested_relay_can_be_changed(admin_client, own_relay):
    response = admin_client.post(f"{BASE}/relays/{own_relay.pk}/", _relay_data(name="Renamed"))

    assert response.status_code == 302


def test_editing_a_relay_never_shows_the_password_and_empty_keeps_it(admin_client, own_relay):
    SmtpRelay.objects.filter(pk=own_relay.pk).update(last_test_ok=False)
    page = admin_client.get(f"{BASE}/relays/{own_relay.pk}/").content.decode()
    assert "s3cret-pass" not in page
    assert 'name="password"' in page
    assert "Leave empty to keep the stored password." in page

    response = admin_client.post(
        f"{BASE}/relays/{own_relay.pk}/", _relay_data(name="Renamed", password="")
    )

    assert response.status_code == 302
    own_relay.refresh_from_db()
    assert (own_relay.name, own_relay.password) == ("Renamed", "s3cret-pass")
    admin_client.post(f"{BASE}/relays/{own_relay.pk}/", _relay_data(password="new-pass"))
    own_relay.refresh_from_db()
    assert own_relay.password == "new-pass"


def _relay_form(html: str) -> str:
    return html.split('class="card relay-form"')[1].split("</form>")[0]


def test_editing_a_relay_with_a_stored_password_offers_to_clear_it(admin_client, own_relay):
    html = admin_client.get(f"{BASE}/relays/{own_relay.pk}/").content.decode()

    form = _relay_form(html)
    assert "s3cret-pass" not in html
    assert re.findall(r'name="([a-z_]+)"', form) == [
        "csrfmiddlewaretoken",
        "name",
        "host",
        "port",
        "security",
        "username",
        "password",
        "clear_password",
        "ca_bundle",
        "max_connections",
        "rate_per_second",
        "is_active",
    ]
    checkbox = r'<input type="checkbox" name="clear_password" [^>]*id="id_clear_password">'
    assert re.search(checkbox, form)
    assert "Clear the stored password" in form
    assert "clear the username too." in form


def test_a_relay_without_a_password_has_nothing_to_clear(admin_client, org_a):
    relay = SmtpRelay.objects.create(organization=org_a, name="Open", host="smtp.open.example")

    form = _relay_form(admin_client.get(f"{BASE}/relays/{relay.pk}/").content.decode())

    assert 'name="clear_password"' not in form
    assert "No password is stored." in form


def _unchanged_relay_data(**fields) -> dict:
    """The own_relay fixture's values as the form posts them."""
    return _relay_data(**{"name": "Office", "username": "", **fields})


@pytest.mark.parametrize(
    ("fields", "stored", "changed", "cleared"),
    [
        ({"password": ""}, "s3cret-pass", False, False),
        ({"password": "typed-secret-9"}, "typed-secret-9", True, False),
        ({"password": "", "clear_password": "on"}, "", True, True),
    ],
    ids=["keep", "replace", "clear"],
)
def test_a_relay_password_is_kept_replaced_or_cleared_and_audited_without_it(
    admin_client, own_relay, fields, stored, changed, cleared
):
    response = admin_client.post(f"{BASE}/relays/{own_relay.pk}/", _unchanged_relay_data(**fields))

    assert response.status_code == 302
    own_relay.refresh_from_db()
    assert own_relay.password == stored
    entry = AuditEntry.objects.get(action="relay_changed")
    assert entry.target_id == str(own_relay.pk)
    assert (entry.details["fields"], entry.details["password_changed"]) == ([], changed)
    assert entry.details["password_cleared"] is cleared
    assert "s3cret-pass" not in str(entry.details)
    assert "typed-secret-9" not in str(entry.details)


def test_a_cleared_password_is_no_longer_offered_for_clearing(admin_client, own_relay):
    admin_client.post(
        f"{BASE}/relays/{own_relay.pk}/", _unchanged_relay_data(password="", clear_password="on")
    )

    form = _relay_form(admin_client.get(f"{BASE}/relays/{own_relay.pk}/").content.decode())

    assert 'name="clear_password"' not in form
    assert "No password is stored." in form


def test_a_new_password_and_clearing_it_at_once_is_refused(admin_client, own_relay):
    response = admin_client.post(
        f"{BASE}/relays/{own_relay.pk}/",
        _unchanged_relay_data(name="Renamed", password="typed-secret-9", clear_password="on"),
    )

    assert response.status_code == 400
    html = response.content.decode()
    errors = html.split('data-testid="errors-password"')[1].split("</ul>")[0]
    assert "Either enter a new password or clear the stored one, not both." in errors
    assert "typed-secret-9" not in html
    own_relay.refresh_from_db()
    assert (own_relay.name, own_relay.password) == ("Office", "s3cret-pass")
    assert not AuditEntry.objects.filter(action="relay_changed").exists()


def test_an_outsider_cannot_clear_our_relay_password(own_relay, outsider_client):
    response = outsider_client.post(
        f"{BASE}/relays/{own_relay.pk}/", _unchanged_relay_data(password="", clear_password="on")
    )

    assert response.status_code == 404
    own_relay.refresh_from_db()
    assert own_relay.password == "s3cret-pass"
    assert not AuditEntry.objects.filter(action="relay_changed").exists()


def test_save_relay_clears_the_password_only_when_asked(admin, own_relay):
    from delivery.services import save_relay

    save_relay(admin, {"name": "Office"}, relay=own_relay)
    own_relay.refresh_from_db()
    assert own_relay.password == "s3cret-pass"

    save_relay(admin, {"name": "Office"}, relay=own_relay, clear_password=True)
    own_relay.refresh_from_db()
    assert own_relay.password == ""
    details = [
        (e.details["password_changed"], e.details["password_cleared"])
        for e in AuditEntry.objects.filter(action="relay_changed").order_by("pk")
    ]
    assert details == [(False, False), (True, True)]


def test_relay_form_has_no_way_to_skip_verification(admin_client):
    html = admin_client.get(f"{BASE}/relays/add/").content.decode()

    form = html.split('class="card relay-form"')[1].split("</form>")[0]
    assert set(re.findall(r'name="([a-z_]+)"', form)) == {
        "csrfmiddlewaretoken",
        "name",
        "host",
        "port",
        "security",
        "username",
        "password",
        "ca_bundle",
        "max_connections",
        "rate_per_second",
        "is_active",
    }
    assert "there is no option to skip verification, by design" in form
    assert "Only for a private relay" in form


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"ca_bundle": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"},
            "ca_bundle",
            "These are not PEM certificates:",
        ),
        ({"ca_bundle": "hello"}, "ca_bundle", "These are not PEM certificates:"),
        (
            {"host": "smtp://relay.example"},
            "host",
            "Enter a host name or IP address only, like smtp.example.co.jp.",
        ),
        (
            {"host": "relay example"},
            "host",
            "Enter a host name or IP address only, like smtp.example.co.jp.",
        ),
        ({"port": "70000"}, "port", "Ensure this value is less than or equal to 65535."),
        ({"port": "abc"}, "port", "Enter a whole number."),
        ({"security": "none"}, "security", "Select a valid choice. none is not one of"),
        ({"name": ""}, "name", "This field is required."),
        ({"rate_per_second": "0"}, "rate_per_second", "greater than or equal to 1."),
    ],
)
def test_relay_form_refuses_bad_input_with_a_specific_message(admin_client, fields, field, message):
    response = admin_client.post(f"{BASE}/relays/add/", _relay_data(**fields))

    assert response.status_code == 400
    html = response.content.decode()
    errors = html.split(f'data-testid="errors-{field}"')[1].split("</ul>")[0]
    assert message in errors
    assert not SmtpRelay.objects.exists()


def test_a_good_ca_bundle_is_accepted(admin_client, dev_tls, org_a):
    response = admin_client.post(
        f"{BASE}/relays/add/", _relay_data(ca_bundle=dev_tls.ca_cert.read_text())
    )

    assert response.status_code == 302
    assert SmtpRelay.objects.get(organization=org_a).ca_bundle.startswith("-----BEGIN")


def test_testing_a_relay_over_verified_starttls_passes(admin_client, org_a, dev_tls):
    with running_relay(RecordingHandler(), server_tls_context(dev_tls)) as (host, port):
        relay = SmtpRelay.objects.create(
            organization=org_a,
            name="Private",
            host=host,
            port=port,
            ca_bundle=dev_tls.ca_cert.read_text(),
        )
        response = admin_client.post(f"{BASE}/relays/{relay.pk}/test/", follow=True)

    relay.refresh_from_db()
    assert relay.last_test_ok is True
    html = response.content.decode()
    assert f"Private works: {host}:{port}: TLSv1." in html
    assert "certificate verified" in html
    assert AuditEntry.objects.get(action="relay_tested").details["ok"] is True


def test_testing_a_relay_without_starttls_fails_clearly(admin_client, org_a):
    with running_plain_smtp() as (host, port):
        relay = SmtpRelay.objects.create(organization=org_a, name="Plain", host=host, port=port)
        response = admin_client.post(f"{BASE}/relays/{relay.pk}/test/", follow=True)

    relay.refresh_from_db()
    assert relay.last_test_ok is False
    html = response.content.decode()
    assert "Plain failed: " in html
    assert relay.last_test_message in html
    assert '<span class="badge down">Failed</span>' in html


def test_testing_a_relay_with_an_untrusted_certificate_fails(admin_client, org_a, foreign_tls):
    with running_relay(RecordingHandler(), server_tls_context(foreign_tls)) as (host, port):
        relay = SmtpRelay.objects.create(organization=org_a, name="Foreign", host=host, port=port)
        admin_client.post(f"{BASE}/relays/{relay.pk}/test/")

    relay.refresh_from_db()
    assert relay.last_test_ok is False
    assert "certificate verify failed" in relay.last_test_message


def test_removing_a_relay(admin_client, own_relay):
    response = admin_client.post(f"{BASE}/relays/{own_relay.pk}/remove/")

    assert response.status_code == 302
    assert not SmtpRelay.objects.exists()
    assert AuditEntry.objects.filter(action="relay_removed").count() == 1


def test_relay_list_query_count_does_not_grow_with_relays(
    admin_client, org_a, django_assert_num_queries
):
    admin_client.get(f"{BASE}/relays/")  # the session's first request also writes it
    for i in range(1, 5):
        SmtpRelay.objects.create(organization=org_a, name=f"R{i}", host=f"h{i}.example")
        # session, user, 2FA device, membership, relays, the nav's memberships
        with django_assert_num_queries(6):
            response = admin_client.get(f"{BASE}/relays/")
        assert response.content.decode().count('data-testid="relay-') == i


# --- Campaign page, prospects ---------------------------------------------------------


def test_campaign_page_includes_the_progress_slot_once_sending_started(admin_client, campaign):
    url = f"/o/org-a/campaigns/{campaign.pk}/"
    draft = admin_client.get(url).content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(state="sending")
    campaign.refresh_from_db()
    Campaign.objects.filter(pk=campaign.pk).update(sending_started_at=campaign.updated_at)

    sending = admin_client.get(url).content.decode()

    assert 'data-testid="progress-slot"' not in draft
    assert (
        f'hx-get="{BASE}/campaigns/{campaign.pk}/progress/?state=sending" hx-trigger="load"'
        in sending
    )
    assert "/static/css/delivery.css" in sending


def test_progress_of_a_campaign_not_started_says_so(admin_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(state="approved")

    response = admin_client.get(f"{BASE}/campaigns/{campaign.pk}/progress/?state=approved")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="not-started"' in html
    assert 'hx-trigger="every 10s"' in html


def test_prospects_query_count_does_not_grow_with_prospects(
    admin_client, admin, org_a, campaign, django_assert_num_queries
):
    import uuid

    from django.utils import timezone

    from delivery.models import Delivery, DeliveryEvent

    Campaign.objects.filter(pk=campaign.pk).update(state="sent")
    admin_client.get(f"{BASE}/prospects/")  # the session's first request also writes it
    for i in range(1, 5):
        contact = make_contact(org_a, f"p{i}@example.jp")
        row = Delivery.objects.create(
            organization=org_a,
            campaign=campaign,
            contact=contact,
            address=contact.email,
            token=uuid.uuid4().hex,
            status="sent",
            sent_at=timezone.now(),
        )
        DeliveryEvent.objects.create(organization=org_a, delivery=row, kind="click")
        # session, user, 2FA device, membership, ranking, contacts, the nav's memberships
        with django_assert_num_queries(7):
            response = admin_client.get(f"{BASE}/prospects/")
        assert response.content.decode().count('data-testid="prospect"') == i


def test_prospects_without_any_reaction(marketer_client):
    html = marketer_client.get(f"{BASE}/prospects/").content.decode()

    assert "Nobody opened or clicked in the last 30 days." in html
