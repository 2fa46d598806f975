"""Campaigns and the approval workflow through the API: the services' rules, the
two-person rule, scopes and state conflicts."""

from __future__ import annotations

import pytest

from accounts.enums import Role
from audit.enums import Action
from audit.models import AuditEntry
from campaigns.enums import CampaignState
from campaigns.models import Approval, Campaign
from tests.api.conftest import api_for
from tests.factories import make_member

pytestmark = pytest.mark.usefixtures("profile", "verified_domain")

BODY = (
    "<p>{{ contact.last_name }} 様</p>\n"
    '<p>春のセール <a href="https://shop.example/sale">詳しく</a></p>\n{{ footer }}\n'
)


def _create(api, customers, **fields):
    data = {
        "name": "Spring sale",
        "subject": "春のセール",
        "from_name": "たより商店",
        "from_address": "news@shop.example",
        "html_body": BODY,
        "include_lists": [customers.pk],
        **fields,
    }
    response = api.post("campaigns/", data)
    assert response.status_code == 201, response.content
    return response.json()


def test_create_read_and_update_a_draft(marketer_api, customers, org_a):
    created = _create(marketer_api, customers)

    read = marketer_api.get(f"campaigns/{created['id']}/")
    updated = marketer_api.patch(f"campaigns/{created['id']}/", {"subject": "夏のセール"})

    assert read.json()["include_lists"] == [customers.pk]
    assert read.json()["state"] == "draft"
    assert updated.status_code == 200
    assert updated.json()["subject"] == "夏のセール"
    assert updated.json()["fingerprint"] != created["fingerprint"]
    assert list(
        AuditEntry.objects.filter(organization=org_a, action__startswith="campaign_")
        .order_by("seq")
        .values_list("action", flat=True)
    ) == [Action.CAMPAIGN_CREATED, Action.CAMPAIGN_CHANGED]


def test_template_errors_are_400_on_their_field(marketer_api, customers):
    response = marketer_api.post(
        "campaigns/",
        {"name": "Bad", "html_body": "{{ contact.nosuchfield }}", "from_address": "nobody"},
    )

    assert response.status_code == 400
    assert {"html_body", "from_address"} <= set(response.json()["fields"])


def test_unknown_list_ids_are_400(marketer_api, org_b):
    from tests.campaigns.conftest import make_list

    theirs = make_list(org_b, "Theirs")

    response = marketer_api.post("campaigns/", {"name": "x", "include_lists": [theirs.pk]})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["include_lists"]


def test_preview_and_status(marketer_api, customers):
    created = _create(marketer_api, customers)

    preview = marketer_api.get(f"campaigns/{created['id']}/preview/").json()
    status = marketer_api.get(f"campaigns/{created['id']}/status/").json()

    assert preview["subject"] == "春のセール"
    assert "山田" in preview["html"] and preview["error"] == ""
    assert status["state"] == "draft"
    assert status["recipient_count"] == 2
    assert status["blocking"] == []
    assert status["may_approve"] is False


def test_the_whole_workflow_through_the_api(marketer_api, admin_api, customers, org_a):
    created = _create(marketer_api, customers)
    campaign_id = created["id"]

    submitted = marketer_api.post(f"campaigns/{campaign_id}/submit/")
    queue = admin_api.get("approvals/").json()["results"]
    approved = admin_api.post(
        f"campaigns/{campaign_id}/approve/", {"fingerprint": submitted.json()["fingerprint"]}
    )
    cancelled = marketer_api.post(f"campaigns/{campaign_id}/cancel/")

    assert submitted.json()["state"] == "submitted"
    assert [(q["campaign"]["id"], q["may_approve"]) for q in queue] == [(campaign_id, True)]
    assert approved.status_code == 200, approved.content
    assert approved.json()["state"] == "approved"
    assert cancelled.json()["state"] == "cancelled"


def test_a_token_never_approves_its_own_users_submission(admin_api, admin, customers, org_a):
    created = _create(admin_api, customers)
    submitted = admin_api.post(f"campaigns/{created['id']}/submit/").json()

    response = admin_api.post(
        f"campaigns/{created['id']}/approve/", {"fingerprint": submitted["fingerprint"]}
    )
    reject = admin_api.post(
        f"campaigns/{created['id']}/reject/",
        {"fingerprint": submitted["fingerprint"], "comment": "no"},
    )

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "You submitted this campaign; someone else must approve it."
    )
    assert reject.status_code == 403
    assert Campaign.objects.get(pk=created["id"]).state == CampaignState.SUBMITTED
    assert not Approval.objects.exists()
    refusals = AuditEntry.objects.filter(action=Action.CAMPAIGN_SELF_APPROVAL_REFUSED)
    assert [e.details["attempted"] for e in refusals.order_by("seq")] == ["approve", "reject"]
    assert {e.actor for e in refusals} == {admin.user}


def test_approving_a_stale_version_is_a_conflict(marketer_api, admin_api, customers):
    created = _create(marketer_api, customers)
    marketer_api.post(f"campaigns/{created['id']}/submit/")

    response = admin_api.post(f"campaigns/{created['id']}/approve/", {"fingerprint": "0" * 64})

    assert response.status_code == 409
    assert response.json()["code"] == "stale"


def test_approve_needs_the_fingerprint(admin_api, marketer_api, customers):
    created = _create(marketer_api, customers)
    marketer_api.post(f"campaigns/{created['id']}/submit/")

    response = admin_api.post(f"campaigns/{created['id']}/approve/", {})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["fingerprint"]


def test_state_refusals_are_409(marketer_api, customers):
    created = _create(marketer_api, customers)

    withdraw = marketer_api.post(f"campaigns/{created['id']}/withdraw/")
    pause = marketer_api.post(f"campaigns/{created['id']}/pause/")
    marketer_api.post(f"campaigns/{created['id']}/submit/")
    again = marketer_api.post(f"campaigns/{created['id']}/submit/")

    assert (withdraw.status_code, pause.status_code, again.status_code) == (409, 409, 409)
    assert again.json()["detail"] == "Only a draft can be submitted for approval."


def test_editing_an_approved_campaign_needs_void_approvals(
    marketer_api, admin_api, customers, org_a
):
    created = _create(marketer_api, customers)
    fingerprint = marketer_api.post(f"campaigns/{created['id']}/submit/").json()["fingerprint"]
    admin_api.post(f"campaigns/{created['id']}/approve/", {"fingerprint": fingerprint})

    refused = marketer_api.patch(f"campaigns/{created['id']}/", {"subject": "変更"})
    accepted = marketer_api.patch(
        f"campaigns/{created['id']}/", {"subject": "変更", "void_approvals": True}
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "would_void_approvals"
    assert accepted.status_code == 200
    assert accepted.json()["state"] == "draft"
    assert AuditEntry.objects.filter(action=Action.CAMPAIGN_APPROVALS_VOIDED).count() == 1


def test_a_cancelled_campaign_cannot_be_changed(marketer_api, customers):
    created = _create(marketer_api, customers)
    marketer_api.post(f"campaigns/{created['id']}/cancel/")

    response = marketer_api.patch(
        f"campaigns/{created['id']}/", {"subject": "x", "void_approvals": True}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "not_editable"


# --- Scopes -------------------------------------------------------------------------------


def test_a_read_token_cannot_write(marketer, customers):
    api = api_for(marketer, scopes=["read"])

    assert api.get("campaigns/").status_code == 200
    response = api.post("campaigns/", {"name": "x"})
    assert response.status_code == 403
    assert response.json() == {
        "code": "insufficient_scope",
        "detail": "This token lacks the 'write' scope.",
    }
    assert api.post("contacts/", {"email": "a@example.jp"}).status_code == 403
    assert api.post("contacts/bulk/", {"contacts": []}).status_code == 403
    assert not Campaign.objects.exists()


def test_a_write_token_cannot_submit_or_approve(marketer, admin, customers):
    writer = api_for(marketer, scopes=["read", "write"])
    created = _create(writer, customers)

    assert writer.post(f"campaigns/{created['id']}/submit/").status_code == 403
    api_for(marketer).post(f"campaigns/{created['id']}/submit/")
    admin_writer = api_for(admin, scopes=["read", "write"])
    response = admin_writer.post(
        f"campaigns/{created['id']}/approve/", {"fingerprint": created["fingerprint"]}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "This token lacks the 'send' scope."
    assert Campaign.objects.get().state == CampaignState.SUBMITTED


def test_a_send_token_without_write_cannot_edit(marketer, customers):
    created = _create(api_for(marketer), customers)
    sender = api_for(marketer, scopes=["send"])

    assert sender.patch(f"campaigns/{created['id']}/", {"subject": "x"}).status_code == 403
    assert sender.get("campaigns/").status_code == 403
    assert sender.post(f"campaigns/{created['id']}/submit/").status_code == 200


def test_the_role_still_decides_with_every_scope(org_a, customers, marketer):
    created = _create(api_for(marketer), customers)
    api_for(marketer).post(f"campaigns/{created['id']}/submit/")
    second_marketer = make_member(org_a, Role.MARKETER, "m2@a.example")

    response = api_for(second_marketer).post(
        f"campaigns/{created['id']}/approve/", {"fingerprint": created["fingerprint"]}
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow this (campaigns.approve)."


def test_campaign_list_query_count_does_not_grow(
    marketer_api, marketer, customers, django_assert_max_num_queries
):
    from tests.campaigns.conftest import make_campaign

    for n in range(15):
        make_campaign(marketer, customers, name=f"C{n}")

    with django_assert_max_num_queries(14):
        response = marketer_api.get("campaigns/", {"page_size": 50})

    assert len(response.json()["results"]) == 15
    assert response.json()["results"][0]["include_lists"] == [customers.pk]
    assert "fingerprint" not in response.json()["results"][0]
