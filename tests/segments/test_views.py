"""The segment pages: access for every persona, the builder's htmx endpoints, saving."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.enums import Action
from audit.models import AuditEntry
from segments.models import Segment
from segments.services import create_segment
from tests.segments.factories import make_contact, make_list, make_tag

DOCOMO = {"match": "all", "rules": [{"field": "email_domain", "op": "eq", "value": "docomo.ne.jp"}]}


@pytest.fixture
def segment(marketer):
    return create_segment(marketer, name="docomo", description="Mobile users", rules=DOCOMO)


def _pages(segment) -> dict[str, str]:
    base = "/o/org-a/segments/"
    return {
        "list": base,
        "create": f"{base}new/",
        "builder": f"{base}builder/",
        "preview": f"{base}preview/",
        "detail": f"{base}{segment.pk}/",
        "edit": f"{base}{segment.pk}/edit/",
        "delete": f"{base}{segment.pk}/delete/",
        "count": f"{base}{segment.pk}/count/",
    }


DOCOMO_FIELDS = {
    "n_1-kind": "domain",
    "n_1-field": "email_domain",
    "n_1-op": "eq",
    "n_1-value": "docomo.ne.jp",
}
VIEW_PAGES = ["list", "detail", "count"]
EDIT_PAGES = ["create", "builder", "preview", "edit", "delete"]
POST_ONLY = {"builder", "preview"}


def _fetch(client, url, name):
    return client.post(url) if name in POST_ONLY else client.get(url)


@pytest.mark.parametrize("name", VIEW_PAGES + EDIT_PAGES)
def test_segment_pages_send_anonymous_visitors_to_login(segment, name):
    url = _pages(segment)[name]

    response = _fetch(Client(), url, name)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("name", VIEW_PAGES + EDIT_PAGES)
def test_segment_pages_are_not_found_for_another_organisation(outsider_client, segment, name):
    response = _fetch(outsider_client, _pages(segment)[name], name)

    assert response.status_code == 404


@pytest.mark.parametrize("name", VIEW_PAGES + EDIT_PAGES)
def test_segment_pages_are_forbidden_to_viewers(viewer_client, segment, name):
    assert _fetch(viewer_client, _pages(segment)[name], name).status_code == 403


@pytest.mark.parametrize("name", EDIT_PAGES)
def test_approvers_may_read_segments_but_not_change_them(approver_client, segment, name):
    assert _fetch(approver_client, _pages(segment)[name], name).status_code == 403


@pytest.mark.parametrize("name", VIEW_PAGES)
def test_approvers_may_read_segments(approver_client, segment, name):
    assert approver_client.get(_pages(segment)[name]).status_code == 200


def test_a_segment_of_another_organisation_is_404_even_by_id(marketer_client, outsider):
    theirs = create_segment(outsider, name="Theirs", rules=DOCOMO)

    for suffix in ("", "edit/", "delete/", "count/"):
        response = marketer_client.get(f"/o/org-a/segments/{theirs.pk}/{suffix}")
        assert response.status_code == 404


LIST_QUERIES = 6  # session, user, OTP device, membership, navigation, segments


def test_segment_list_query_count_does_not_grow_with_segments(
    marketer, marketer_client, django_assert_num_queries
):
    for n in range(3):
        create_segment(marketer, name=f"Segment {n}", rules=DOCOMO)
    marketer_client.get("/o/org-a/")  # the session's first request also records activity
    with django_assert_num_queries(LIST_QUERIES):
        few = marketer_client.get("/o/org-a/segments/")
    for n in range(3, 10):
        create_segment(marketer, name=f"Segment {n}", rules=DOCOMO)
    with django_assert_num_queries(LIST_QUERIES):
        many = marketer_client.get("/o/org-a/segments/")

    assert few.content.decode().count('data-testid="segment-row"') == 3
    assert many.content.decode().count('data-testid="segment-row"') == 10


def test_segment_list_shows_names_escaped(marketer, marketer_client):
    create_segment(marketer, name="<b>VIP</b>", rules=DOCOMO)

    body = marketer_client.get("/o/org-a/segments/").content.decode()

    assert "&lt;b&gt;VIP&lt;/b&gt;" in body
    assert "<b>VIP</b>" not in body


def test_detail_describes_the_rules_in_words(marketer_client, segment):
    body = marketer_client.get(f"/o/org-a/segments/{segment.pk}/").content.decode()

    assert "E-mail domain is “docomo.ne.jp”" in body


def _form(**fields) -> dict:
    """What the builder page posts for one condition in the top-level group."""
    data = {"name": "docomo", "description": "", "node": ["g:n", "c:n_1"], "n-match": "all"}
    data.update(fields)
    return data


def test_create_page_saves_the_segment_and_audits_it(org_a, marketer_client):
    data = _form(
        **{
            "n_1-kind": "domain",
            "n_1-field": "email_domain",
            "n_1-op": "in",
            "n_1-value": "docomo.ne.jp、 EZWEB.ne.jp",
            "action": "save",
        }
    )

    response = marketer_client.post("/o/org-a/segments/new/", data)

    segment = Segment.objects.get(organization=org_a)
    assert response.status_code == 302
    assert response["Location"] == f"/o/org-a/segments/{segment.pk}/"
    assert segment.rules == {
        "match": "all",
        "rules": [{"field": "email_domain", "op": "in", "value": ["docomo.ne.jp", "ezweb.ne.jp"]}],
    }
    entry = AuditEntry.objects.get(organization=org_a, action=Action.SEGMENT_CREATED)
    assert entry.details["rules_after"] == segment.rules


def test_create_page_shows_each_problem_next_to_its_condition(org_a, marketer_client):
    data = _form(
        **{"n_1-kind": "number", "n_1-field": "email", "n_1-op": "contains", "n_1-value": ""}
    )

    response = marketer_client.post("/o/org-a/segments/new/", data)

    body = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-n_1">enter a value.</p>' in body
    assert Segment.objects.filter(organization=org_a).count() == 0


def test_edit_page_updates_with_rules_before_and_after(org_a, marketer_client, segment):
    data = _form(
        **{
            "name": "docomo",
            "n_1-kind": "domain",
            "n_1-field": "email_domain",
            "n_1-op": "eq",
            "n_1-value": "ezweb.ne.jp",
        }
    )

    response = marketer_client.post(f"/o/org-a/segments/{segment.pk}/edit/", data)

    entry = AuditEntry.objects.get(organization=org_a, action=Action.SEGMENT_UPDATED)
    assert response.status_code == 302
    assert entry.details["rules_before"] == DOCOMO
    assert entry.details["rules_after"]["rules"][0]["value"] == "ezweb.ne.jp"


def test_delete_page_deletes_after_confirmation(org_a, marketer_client, segment):
    confirm = marketer_client.get(f"/o/org-a/segments/{segment.pk}/delete/")
    response = marketer_client.post(f"/o/org-a/segments/{segment.pk}/delete/")

    assert confirm.status_code == 200
    assert response.status_code == 302
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert AuditEntry.objects.filter(organization=org_a, action=Action.SEGMENT_DELETED).count() == 1


def test_builder_adds_a_group_and_answers_with_the_tree_and_the_preview(marketer_client):
    data = _form(
        **{
            "n_1-kind": "domain",
            "n_1-field": "email_domain",
            "n_1-op": "eq",
            "n_1-value": "docomo.ne.jp",
            "action": "add-group:n",
        }
    )

    response = marketer_client.post("/o/org-a/segments/builder/", data, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="node" value="g:n_2"' in body
    assert 'name="node" value="c:n_2_1"' in body
    assert '<option value="any" selected>' in body  # nested under "all": "any" by default
    assert 'data-testid="segment-preview" hx-swap-oob="true"' in body


def test_builder_changing_the_field_offers_that_fields_operators(org_a, marketer_client):
    data = _form(**{"n_1-kind": "domain", "n_1-field": "status", "n_1-op": "eq", "n_1-value": "x"})

    body = marketer_client.post("/o/org-a/segments/builder/", data).content.decode()

    assert '<option value="in" selected>is any of</option>' in body
    assert '<option value="subscribed">Subscribed</option>' in body
    assert 'value="x"' not in body  # the old field's value is dropped


def test_builder_removes_a_condition(marketer_client):
    data = _form(
        **{
            "n_1-kind": "email",
            "n_1-field": "email",
            "n_1-op": "contains",
            "n_1-value": "a",
            "action": "remove:n_1",
        }
    )

    body = marketer_client.post("/o/org-a/segments/builder/", data).content.decode()

    assert 'value="c:n_1"' not in body
    assert "Rules: add at least one condition." in body


def test_preview_counts_recipients_the_member_may_see(org_a, marketer_client, admin_client):
    board = make_list(org_a, "Board", restricted=True)
    vip = make_tag(org_a, "VIP")
    make_contact(org_a, "taro@docomo.ne.jp", tags=[vip])
    make_contact(org_a, "hanako@docomo.ne.jp", tags=[vip], lists=[board])
    make_contact(org_a, "jiro@example.jp", tags=[vip])
    data = _form(**DOCOMO_FIELDS)

    for_marketer = marketer_client.post("/o/org-a/segments/preview/", data).content.decode()
    for_admin = admin_client.post("/o/org-a/segments/preview/", data).content.decode()

    assert 'data-count="1"' in for_marketer
    assert "taro@docomo.ne.jp" in for_marketer
    assert "hanako@docomo.ne.jp" not in for_marketer
    assert 'data-count="2"' in for_admin
    assert "hanako@docomo.ne.jp" in for_admin


def test_saved_segment_count_is_limited_by_list_grants(
    org_a, marketer_client, admin_client, segment
):
    board = make_list(org_a, "Board", restricted=True)
    make_contact(org_a, "taro@docomo.ne.jp")
    make_contact(org_a, "hanako@docomo.ne.jp", lists=[board])

    for_marketer = marketer_client.get(f"/o/org-a/segments/{segment.pk}/count/").content.decode()
    for_admin = admin_client.get(f"/o/org-a/segments/{segment.pk}/count/").content.decode()

    assert 'data-count="1"' in for_marketer
    assert 'data-count="2"' in for_admin


def test_preview_escapes_contact_data(org_a, marketer_client):
    make_contact(org_a, "x@docomo.ne.jp", company="<script>alert(1)</script>")
    data = _form(**DOCOMO_FIELDS)

    body = marketer_client.post("/o/org-a/segments/preview/", data).content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in body


def test_builder_ignores_malformed_node_ids(marketer_client):
    data = {
        "node": ["g:n", "c:n_1", "c:x_1", "c:n_1_1_1_1_1_1_1", "q:n_2", "c:n_9_9"],
        "n-match": "any",
        "n_1-field": "email",
        "n_1-kind": "email",
        "n_1-op": "contains",
        "n_1-value": "@",
    }

    response = marketer_client.post("/o/org-a/segments/preview/", data)

    assert response.status_code == 200
    assert 'data-count="0"' in response.content.decode()


def test_preview_refreshes_each_conditions_messages(marketer_client):
    missing = _form(**{"n_1-kind": "email", "n_1-field": "email", "n_1-op": "contains"})
    fixed = _form(
        **{"n_1-kind": "email", "n_1-field": "email", "n_1-op": "contains", "n_1-value": "@"}
    )

    before = marketer_client.post("/o/org-a/segments/preview/", missing).content.decode()
    after = marketer_client.post("/o/org-a/segments/preview/", fixed).content.decode()

    assert (
        '<div id="errors-n_1" hx-swap-oob="true"><p class="errorlist" data-testid="error-n_1">'
        "enter a value.</p></div>"
    ) in before
    assert '<div id="errors-n_1" hx-swap-oob="true"></div>' in after
    assert '<div id="errors-n" hx-swap-oob="true"></div>' in after
