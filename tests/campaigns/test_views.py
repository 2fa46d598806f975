"""The campaign pages: access on every view (outsider 404, role without permission 403),
and what each page shows and does."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns import hooks, services
from campaigns.enums import CampaignState
from campaigns.models import Campaign, Layout, SenderProfile
from tests.campaigns.conftest import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def layout(org_a, marketer):
    return services.create_layout(marketer, name="Brand", html="<main>{{ content }}</main>")


def _url(name, campaign=None, layout=None):
    kwargs = {"org_slug": "org-a"}
    if campaign is not None:
        kwargs["campaign_id"] = campaign.pk
    if layout is not None:
        kwargs["layout_id"] = layout.pk
    return reverse(f"campaigns:{name}", kwargs=kwargs)


# (url name, needs campaign, needs layout, method, roles refused with 403)
VIEWS = [
    ("list", False, False, "get", []),
    ("create", False, False, "get", ["approver", "viewer"]),
    ("queue", False, False, "get", ["marketer", "viewer"]),
    ("notifications", False, False, "get", []),
    ("layouts", False, False, "get", []),
    ("layout_create", False, False, "get", ["approver", "viewer"]),
    ("layout_edit", False, True, "get", ["approver", "viewer"]),
    ("settings", False, False, "get", ["marketer", "approver", "viewer"]),
    ("generate_text", False, False, "post", ["approver", "viewer"]),
    ("detail", True, False, "get", []),
    ("edit", True, False, "get", ["approver", "viewer"]),
    ("check", True, False, "get", []),
    ("preview", True, False, "get", []),
    ("preview_html", True, False, "get", []),
    ("test_send", True, False, "get", ["approver", "viewer"]),
    ("submit", True, False, "post", ["approver", "viewer"]),
    ("withdraw", True, False, "post", ["approver", "viewer"]),
    ("review", True, False, "get", ["marketer", "viewer"]),
    ("approve", True, False, "post", ["marketer", "viewer"]),
    ("reject", True, False, "post", ["marketer", "viewer"]),
    ("cancel", True, False, "post", ["viewer"]),
    ("pause", True, False, "post", ["viewer"]),
    ("resume", True, False, "post", ["viewer"]),
    ("clone", True, False, "post", ["approver", "viewer"]),
]


@pytest.mark.parametrize(("name", "needs_campaign", "needs_layout", "method", "_roles"), VIEWS)
def test_every_view_is_not_found_for_an_outsider(
    outsider_client, campaign, layout, name, needs_campaign, needs_layout, method, _roles
):
    url = _url(name, campaign if needs_campaign else None, layout if needs_layout else None)

    response = getattr(outsider_client, method)(url)

    assert response.status_code == 404


@pytest.mark.parametrize(("name", "needs_campaign", "needs_layout", "method", "roles"), VIEWS)
def test_every_view_is_forbidden_to_roles_without_its_permission(
    request, campaign, layout, name, needs_campaign, needs_layout, method, roles
):
    url = _url(name, campaign if needs_campaign else None, layout if needs_layout else None)

    for role in roles:
        client = request.getfixturevalue(f"{role}_client")
        response = getattr(client, method)(url)
        assert response.status_code == 403, (role, response.status_code)
    assert Campaign.objects.get(pk=campaign.pk).state == CampaignState.DRAFT


@pytest.mark.parametrize(("name", "needs_campaign", "needs_layout", "method", "_roles"), VIEWS)
def test_every_view_sends_anonymous_visitors_to_log_in(
    client, campaign, layout, name, needs_campaign, needs_layout, method, _roles
):
    url = _url(name, campaign if needs_campaign else None, layout if needs_layout else None)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_another_organisations_campaign_is_not_found_for_its_admin_here(
    admin_client, org_b, outsider
):
    theirs = Campaign.objects.create(organization=org_b, name="Theirs")

    response = admin_client.get(f"/o/org-a/campaigns/{theirs.pk}/")

    assert response.status_code == 404


# --- The list ---------------------------------------------------------------------------


def test_the_list_shows_campaigns_by_state(
    marketer_client, marketer, customers, profile, verified_domain, django_assert_num_queries
):
    for n in range(3):
        make_campaign(marketer, customers, name=f"Draft {n}")
    submitted = services.submit_campaign(marketer, make_campaign(marketer, customers, name="Sub"))

    with django_assert_num_queries(11):
        response = marketer_client.get("/o/org-a/campaigns/?state=submitted")

    content = response.content.decode()
    assert response.status_code == 200
    assert [c.name for c in response.context["campaigns"]] == ["Sub"]
    assert 'data-testid="filter-draft">Draft (3)' in content
    assert 'data-testid="filter-submitted">Awaiting approval (1)' in content
    assert f"/o/org-a/campaigns/{submitted.pk}/" in content


def test_the_list_query_count_does_not_grow_with_campaigns(
    marketer_client, marketer, customers, profile, django_assert_num_queries
):
    for n in range(10):
        make_campaign(marketer, customers, name=f"Draft {n}")

    with django_assert_num_queries(11):
        marketer_client.get("/o/org-a/campaigns/")


# --- Editor -------------------------------------------------------------------------------


def _form(customers, **overrides):
    data = {
        "name": "Autumn",
        "subject": "{{ contact.last_name }}様",
        "from_name": "たより商店",
        "from_address": "news@shop.example",
        "html_body": "<p>こんにちは</p>{{ footer }}",
        "include_lists": [customers.pk],
        "charset": "utf-8",
    }
    data.update(overrides)
    return data


def test_creating_a_campaign_through_the_editor(marketer_client, customers, profile):
    response = marketer_client.post("/o/org-a/campaigns/new/", _form(customers))

    campaign = Campaign.objects.get(name="Autumn")
    assert response.status_code == 302
    assert response["Location"] == f"/o/org-a/campaigns/{campaign.pk}/"
    assert campaign.state == CampaignState.DRAFT
    assert list(campaign.include_lists.all()) == [customers]


def test_the_editor_shows_template_errors_with_their_line(marketer_client, customers, profile):
    response = marketer_client.post(
        "/o/org-a/campaigns/new/",
        _form(customers, html_body="<p>a</p>\n<p>{{ ''.__class__ }}</p>\n{{ footer }}"),
    )

    assert response.status_code == 200
    assert response.context["form"].errors["html_body"] == [
        "Line 2: templates cannot reach Python internals (names starting with “_”)."
    ]
    assert 'data-testid="errors-html_body"' in response.content.decode()
    assert not Campaign.objects.filter(name="Autumn").exists()


def test_the_editor_refuses_a_subject_with_a_line_break(marketer_client, customers, profile):
    response = marketer_client.post(
        "/o/org-a/campaigns/new/", _form(customers, subject="Hi\r\nBcc: all@example.com")
    )

    assert response.context["form"].errors["subject"] == [
        "Line breaks are not allowed here: they could add mail headers."
    ]


def test_the_editor_refuses_iso_2022_jp_with_the_characters(marketer_client, customers, profile):
    response = marketer_client.post(
        "/o/org-a/campaigns/new/",
        _form(customers, charset="iso-2022-jp", html_body="<p>㈱たより</p>{{ footer }}"),
    )

    assert "㈱ (U+3231)" in response.context["form"].errors["charset"][0]


def test_saving_an_approved_campaign_voids_it_and_says_so(
    submitted, approver, marketer_client, customers
):
    services.approve_campaign(approver, submitted)

    response = marketer_client.post(
        f"/o/org-a/campaigns/{submitted.pk}/edit/",
        _form(customers, name="Spring sale", subject="新しい件名"),
        follow=True,
    )

    submitted.refresh_from_db()
    assert submitted.state == CampaignState.DRAFT
    assert "its approvals were voided" in response.content.decode()


def test_the_editor_lists_only_visible_lists(marketer_client, org_a, customers, profile):
    from tests.campaigns.conftest import make_list

    make_list(org_a, "Board members", is_restricted=True)

    response = marketer_client.get("/o/org-a/campaigns/new/")

    names = [c.name for c in response.context["form"].fields["include_lists"].queryset]
    assert names == ["Customers"]


def test_generate_text_returns_the_text_of_the_html(marketer_client):
    response = marketer_client.post(
        "/o/org-a/campaigns/generate-text/",
        {"html_body": '<p>{{ contact.last_name }} 様</p><a href="{{ unsubscribe_url }}">停止</a>'},
    )

    assert response.status_code == 200
    assert response.content.decode().strip() == (
        '<textarea name="text_body" cols="40" rows="14" class="code" spellcheck="false" '
        'id="id_text_body">{{ contact.last_name }} 様\n\n停止 ({{ unsubscribe_url }})\n</textarea>'
    )


# --- Detail, preview, check -----------------------------------------------------------------


def test_the_detail_page_offers_the_marketer_submit_and_no_approve(marketer_client, campaign):
    response = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/")

    content = response.content.decode()
    assert 'data-testid="submit"' in content
    assert 'data-testid="review"' not in content


def test_the_submitter_finds_no_approve_button_even_as_admin(
    admin_client, admin, customers, profile, verified_domain
):
    campaign = services.submit_campaign(admin, make_campaign(admin, customers))

    detail = admin_client.get(f"/o/org-a/campaigns/{campaign.pk}/").content.decode()
    review = admin_client.get(f"/o/org-a/campaigns/{campaign.pk}/review/").content.decode()

    assert 'data-testid="review"' not in detail
    assert 'data-testid="approve"' not in review
    assert "You submitted this campaign; someone else must approve it." in review


def test_posting_an_approval_of_ones_own_campaign_is_refused(
    admin_client, admin, customers, profile, verified_domain
):
    campaign = services.submit_campaign(admin, make_campaign(admin, customers))

    response = admin_client.post(
        f"/o/org-a/campaigns/{campaign.pk}/approve/",
        {"fingerprint": campaign.submitted_fingerprint},
    )

    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SUBMITTED


def test_the_approver_reviews_and_approves(approver_client, submitted):
    review = approver_client.get(f"/o/org-a/campaigns/{submitted.pk}/review/")
    content = review.content.decode()
    assert 'data-testid="approve"' in content
    assert '<p class="big" data-testid="review-count">3 recipients</p>' in content
    assert "yamada@example.jp" in content
    assert 'data-testid="domain-status">shop.example: verified, DMARC-aligned' in content

    response = approver_client.post(
        f"/o/org-a/campaigns/{submitted.pk}/approve/",
        {"fingerprint": review.context["fingerprint"], "comment": "OK"},
    )

    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == CampaignState.APPROVED


def test_a_stale_approval_form_is_refused(approver_client, submitted):
    response = approver_client.post(
        f"/o/org-a/campaigns/{submitted.pk}/approve/", {"fingerprint": "f" * 64}, follow=True
    )

    assert "The campaign changed while you were reviewing it." in response.content.decode()
    submitted.refresh_from_db()
    assert submitted.state == CampaignState.SUBMITTED


def test_rejecting_from_the_review_page(approver_client, submitted):
    response = approver_client.post(
        f"/o/org-a/campaigns/{submitted.pk}/reject/",
        {"fingerprint": submitted.submitted_fingerprint, "comment": "画像が重すぎます"},
        follow=True,
    )

    submitted.refresh_from_db()
    assert submitted.state == CampaignState.DRAFT
    assert "画像が重すぎます" in response.content.decode()


def test_the_review_page_shows_a_diff_against_the_last_approved_version(
    approver_client, submitted, approver, marketer
):
    from tests.campaigns.conftest import edit

    approved = services.approve_campaign(approver, submitted)
    edit(marketer, approved, subject="{{ contact.last_name }}様 夏のセール")
    services.submit_campaign(marketer, Campaign.objects.get(pk=submitted.pk))

    response = approver_client.get(f"/o/org-a/campaigns/{submitted.pk}/review/")

    assert response.context["diff"] == [
        (
            "subject",
            [
                "@@ -1 +1 @@",
                "-{{ contact.last_name }}様 春のセールのお知らせ",
                "+{{ contact.last_name }}様 夏のセール",
            ],
        )
    ]


def test_the_held_page_shows_both_numbers(approver_client, submitted, approver, org_a, customers):
    from tests.campaigns.conftest import make_contact

    services.approve_campaign(approver, submitted)
    make_contact(org_a, "new@example.jp", customers)
    services.check_drift(submitted)

    content = approver_client.get(f"/o/org-a/campaigns/{submitted.pk}/review/").content.decode()

    assert "approved for 3 recipients, but the audience now has 4" in content
    assert 'data-testid="approve"' in content


def test_the_check_fragment_lists_findings(marketer_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(subject="")

    response = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/check/")

    content = response.content.decode()
    assert 'data-code="subject_empty"' in content
    assert '<dd data-testid="recipient-count">3</dd>' in content


def test_the_check_fragment_without_delivery_says_domains_are_not_set_up(
    marketer_client, marketer, customers, profile
):
    campaign = make_campaign(marketer, customers)

    with hooks.registered():
        content = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/check/").content.decode()

    assert 'data-code="domain_unavailable"' in content
    assert "Sending domains are not set up yet" in content


def test_the_preview_shows_a_chosen_contact_at_two_widths(marketer_client, campaign, customers):
    sato = customers.contacts.get(email="sato@example.jp")

    response = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/preview/?contact={sato.pk}")

    content = response.content.decode()
    assert response.context["message"].subject == "佐藤様 春のセールのお知らせ"
    src = f"/o/org-a/campaigns/{campaign.pk}/preview/html/?contact={sato.pk}"
    assert f'<iframe sandbox src="{src}"' in content
    assert 'data-testid="preview-desktop"' in content
    assert 'data-testid="preview-mobile"' in content
    assert "佐藤 花子 様" in response.context["message"].text


def test_the_preview_refuses_a_contact_outside_the_audience(marketer_client, campaign, org_a):
    from tests.campaigns.conftest import make_contact

    other = make_contact(org_a, "other@example.jp")

    response = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/preview/?contact={other.pk}")

    assert response.status_code == 404


def test_the_preview_document_has_its_own_strict_policy(marketer_client, campaign):
    response = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/preview/html/")

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    policy = dict(
        part.strip().split(" ", 1) if " " in part.strip() else (part.strip(), "")
        for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'none'"
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'self'"
    assert policy["sandbox"] == ""
    # No contact chosen: the sample person.
    assert "<p>山田 太郎 様</p>" in response.content.decode()


def test_the_app_pages_keep_the_app_policy(marketer_client, campaign):
    response = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/preview/")

    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


# --- Actions -----------------------------------------------------------------------------------


def test_submitting_from_the_detail_page(marketer_client, campaign):
    response = marketer_client.post(f"/o/org-a/campaigns/{campaign.pk}/submit/", follow=True)

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SUBMITTED
    assert "Submitted for approval." in response.content.decode()


def test_a_refused_submission_lists_the_problems(marketer_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(html_body="<p>no footer</p>")

    response = marketer_client.post(f"/o/org-a/campaigns/{campaign.pk}/submit/", follow=True)

    content = response.content.decode()
    assert "The postal address is missing" in content
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_state_changing_views_refuse_get(marketer_client, campaign):
    for name in ("submit", "withdraw", "cancel", "pause", "resume", "clone"):
        assert marketer_client.get(_url(name, campaign)).status_code == 405


def test_cancelling_from_the_detail_page(marketer_client, submitted):
    marketer_client.post(f"/o/org-a/campaigns/{submitted.pk}/cancel/")

    submitted.refresh_from_db()
    assert submitted.state == CampaignState.CANCELLED


def test_cloning_opens_the_copy_in_the_editor(marketer_client, campaign):
    response = marketer_client.post(f"/o/org-a/campaigns/{campaign.pk}/clone/")

    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response["Location"] == f"/o/org-a/campaigns/{copy.pk}/edit/"


def test_the_queue_shows_campaigns_awaiting_approval(approver_client, submitted, campaign):
    response = approver_client.get("/o/org-a/campaigns/approvals/")

    assert [c.pk for c, _refusal in response.context["rows"]] == [submitted.pk]


def test_the_test_send_page_says_when_unavailable(marketer_client, campaign):
    with hooks.registered():
        content = marketer_client.get(f"/o/org-a/campaigns/{campaign.pk}/test-send/").content

    assert b'data-testid="test-send-unavailable"' in content


def test_the_test_send_page_sends(marketer_client, campaign, test_outbox):
    response = marketer_client.post(
        f"/o/org-a/campaigns/{campaign.pk}/test-send/", {"recipients": ["qa@shop.example"]}
    )

    assert b'data-testid="test-send-results"' in response.content
    assert [r for r, _m in test_outbox] == ["qa@shop.example"]


def test_notifications_page_lists_and_marks_read(approver_client, approver, submitted):
    response = approver_client.get("/o/org-a/campaigns/notifications/")
    assert "marketer@a.example submitted the campaign “Spring sale”" in response.content.decode()

    approver_client.post("/o/org-a/campaigns/notifications/")

    assert services.notifications_for(approver).unread().count() == 0


# --- Layouts and settings ----------------------------------------------------------------------


def test_a_layout_without_content_is_refused(marketer_client):
    response = marketer_client.post(
        "/o/org-a/campaigns/layouts/new/", {"name": "Bad", "html": "<main></main>"}
    )

    assert response.context["form"].errors["html"] == ["A layout must contain {{ content }}."]
    assert not Layout.objects.exists()


def test_a_layout_reaching_internals_is_refused(marketer_client):
    response = marketer_client.post(
        "/o/org-a/campaigns/layouts/new/",
        {"name": "Bad", "html": "{{ content }}{{ content.__class__ }}"},
    )

    assert response.context["form"].errors["html"] == [
        "Line 1: templates cannot reach Python internals (names starting with “_”)."
    ]


def test_the_admin_sets_the_sender_profile(admin_client, org_a):
    response = admin_client.post(
        "/o/org-a/campaigns/settings/",
        {
            "sender_name": "たより",
            "postal_address": "東京都",
            "complaints_contact": "help@shop.example",
            "footer_language": "ja",
            "test_addresses": "qa@shop.example",
            "drift_threshold_percent": 15,
            "undo_window_minutes": 10,
            "spam_score_limit": "5.0",
        },
    )

    assert response.status_code == 302
    profile = SenderProfile.objects.get(organization=org_a)
    assert (profile.drift_threshold_percent, profile.undo_window_minutes) == (15, 10)


def test_bad_test_addresses_are_refused(admin_client, org_a):
    response = admin_client.post(
        "/o/org-a/campaigns/settings/",
        {
            "footer_language": "ja",
            "test_addresses": "qa@shop.example\nnot an address",
            "drift_threshold_percent": 10,
            "undo_window_minutes": 5,
            "spam_score_limit": "5.0",
        },
    )

    assert response.context["form"].errors["test_addresses"] == [
        "Not e-mail addresses: not an address"
    ]


def test_the_queue_query_count_does_not_grow(
    approver_client, marketer, customers, profile, verified_domain, django_assert_num_queries
):
    for n in range(5):
        services.submit_campaign(marketer, make_campaign(marketer, customers, name=f"C{n}"))

    with django_assert_num_queries(9):
        response = approver_client.get("/o/org-a/campaigns/approvals/")

    assert len(response.context["rows"]) == 5


def test_submitting_warns_when_too_few_people_can_approve(marketer_client, campaign, org_a):
    org_a.approvals_required = 2
    org_a.save()

    response = marketer_client.post(f"/o/org-a/campaigns/{campaign.pk}/submit/", follow=True)

    assert (
        "2 approvals are required but only 0 other people can approve it"
        in response.content.decode()
    )
