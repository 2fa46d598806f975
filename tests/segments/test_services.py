"""Saving segments: who may, what is refused, and the audit trail with rules before/after."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from audit.enums import Action
from audit.models import AuditEntry
from segments.models import Segment
from segments.rules import RuleError
from segments.services import (
    create_segment,
    delete_segment,
    preview_rules,
    segment_preview,
    update_segment,
)
from tests.segments.factories import make_contact, make_list, make_tag

DOCOMO = {"match": "all", "rules": [{"field": "email_domain", "op": "eq", "value": "DOCOMO.ne.jp"}]}
DOCOMO_CANONICAL = {
    "match": "all",
    "rules": [{"field": "email_domain", "op": "eq", "value": "docomo.ne.jp"}],
}


def _entries(org, action):
    return list(AuditEntry.objects.for_organization(org).filter(action=action).order_by("seq"))


def test_create_segment_stores_canonical_rules_and_audits_them(org_a, marketer):
    segment = create_segment(marketer, name=" docomo users ", description="Mobile", rules=DOCOMO)

    (entry,) = _entries(org_a, Action.SEGMENT_CREATED)
    assert (segment.name, segment.description, segment.rules) == (
        "docomo users",
        "Mobile",
        DOCOMO_CANONICAL,
    )
    assert (segment.created_by, segment.updated_by) == (marketer.user, marketer.user)
    assert (entry.actor_id, entry.target_id, entry.details) == (
        marketer.user.pk,
        str(segment.pk),
        {"name": "docomo users", "rules_after": DOCOMO_CANONICAL},
    )


def test_update_segment_audits_the_rules_before_and_after(org_a, marketer, admin):
    segment = create_segment(marketer, name="Mobile", rules=DOCOMO)
    after = {
        "match": "any",
        "rules": [{"field": "email_domain", "op": "in", "value": ["docomo.ne.jp", "ezweb.ne.jp"]}],
    }

    update_segment(admin, segment, name="Mobile carriers", description="", rules=after)

    segment.refresh_from_db()
    (entry,) = _entries(org_a, Action.SEGMENT_UPDATED)
    assert (segment.name, segment.rules, segment.updated_by) == (
        "Mobile carriers",
        after,
        admin.user,
    )
    assert entry.details == {
        "changes": {"name": ["Mobile", "Mobile carriers"], "rules": True},
        "rules_before": DOCOMO_CANONICAL,
        "rules_after": after,
    }


def test_update_segment_without_changes_writes_nothing(org_a, marketer):
    segment = create_segment(marketer, name="Mobile", rules=DOCOMO)

    update_segment(marketer, segment, name="Mobile", description="", rules=DOCOMO)

    assert _entries(org_a, Action.SEGMENT_UPDATED) == []


def test_delete_segment_audits_its_last_rules(org_a, marketer):
    segment = create_segment(marketer, name="Mobile", rules=DOCOMO)
    pk = segment.pk

    delete_segment(marketer, segment)

    (entry,) = _entries(org_a, Action.SEGMENT_DELETED)
    assert not Segment.objects.filter(pk=pk).exists()
    assert entry.details == {"segment_id": pk, "name": "Mobile", "rules_before": DOCOMO_CANONICAL}


def test_segment_names_are_unique_per_organisation_whatever_the_case(org_a, marketer, outsider):
    create_segment(marketer, name="VIP", rules=DOCOMO)

    with pytest.raises(ValidationError) as error:
        create_segment(marketer, name="vip", rules=DOCOMO)
    create_segment(outsider, name="VIP", rules=DOCOMO)  # another organisation: fine

    assert error.value.message_dict == {"name": ["A segment with this name already exists."]}


def test_a_segment_needs_a_name(marketer):
    with pytest.raises(ValidationError) as error:
        create_segment(marketer, name="  ", rules=DOCOMO)

    assert error.value.message_dict == {"name": ["Give the segment a name."]}


def test_invalid_rules_are_refused_and_nothing_is_saved(org_a, marketer):
    bad = {"match": "all", "rules": [{"field": "email_domain", "op": "gt", "value": "x"}]}

    with pytest.raises(RuleError):
        create_segment(marketer, name="Bad", rules=bad)

    assert Segment.objects.for_organization(org_a).count() == 0
    assert _entries(org_a, Action.SEGMENT_CREATED) == []


def test_engagement_conditions_cannot_be_saved_before_sending_exists(marketer):
    from segments import engagement

    rules = {"match": "all", "rules": [{"field": "engagement", "op": "never_opened"}]}

    with engagement.override(None), pytest.raises(RuleError) as error:
        create_segment(marketer, name="Sleepers", rules=rules)

    assert str(error.value) == (
        "Condition 1 (Engagement): engagement conditions need delivery data; "
        "available once sending is enabled."
    )


@pytest.mark.parametrize("persona", ["approver", "viewer"])
def test_only_members_with_segments_edit_may_change_segments(request, marketer, persona):
    member = request.getfixturevalue(persona)
    segment = create_segment(marketer, name="Mobile", rules=DOCOMO)

    with pytest.raises(PermissionDenied):
        create_segment(member, name="Other", rules=DOCOMO)
    with pytest.raises(PermissionDenied):
        update_segment(member, segment, name="Renamed", rules=DOCOMO)
    with pytest.raises(PermissionDenied):
        delete_segment(member, segment)


def test_another_organisations_segment_is_not_found(marketer, outsider):
    segment = create_segment(marketer, name="Mobile", rules=DOCOMO)

    with pytest.raises(Http404):
        update_segment(outsider, segment, name="Mine now", rules=DOCOMO)
    with pytest.raises(Http404):
        delete_segment(outsider, segment)


def test_a_member_cannot_save_a_list_they_cannot_see(org_a, marketer, admin):
    board = make_list(org_a, "Board", restricted=True)
    rules = {"match": "all", "rules": [{"field": "lists", "op": "any", "value": [board.pk]}]}

    with pytest.raises(RuleError) as error:
        create_segment(marketer, name="Board", rules=rules)
    create_segment(admin, name="Board", rules=rules)

    assert str(error.value) == (
        "Condition 1 (Lists): a chosen list no longer exists or is not visible to you."
    )


def test_preview_counts_and_samples_only_what_the_member_may_see(org_a, marketer, admin):
    vip = make_tag(org_a, "VIP")
    board = make_list(org_a, "Board", restricted=True)
    for n in range(12):
        make_contact(org_a, f"vip{n:02}@example.jp", tags=[vip])
    make_contact(org_a, "ceo@example.jp", tags=[vip], lists=[board])
    rules = {"match": "all", "rules": [{"field": "tags", "op": "any", "value": [vip.pk]}]}

    for_marketer = preview_rules(marketer, rules)
    for_admin = preview_rules(admin, rules)

    assert for_marketer.count == 12
    assert [c.email for c in for_marketer.sample] == [
        f"vip{n:02}@example.jp" for n in range(11, 1, -1)
    ]
    assert for_admin.count == 13
    assert for_admin.sample[0].email == "ceo@example.jp"


def test_preview_reports_problems_instead_of_raising(marketer):
    preview = preview_rules(
        marketer, {"match": "all", "rules": [{"field": "attr:nope", "op": "eq"}]}
    )

    assert (preview.ok, preview.count, preview.message) == (
        False,
        None,
        "Condition 1: unknown field “attr:nope”.",
    )
    assert [e.path for e in preview.errors] == [(1,)]


def test_preview_of_a_saved_segment_reports_rules_that_no_longer_compile(org_a, marketer):
    vip = make_tag(org_a, "VIP")
    segment = create_segment(
        marketer,
        name="VIP",
        rules={"match": "all", "rules": [{"field": "tags", "op": "any", "value": [vip.pk]}]},
    )
    vip.delete()

    preview = segment_preview(marketer, segment)

    assert preview.message == "Segment “VIP”: Condition 1 (Tags): a chosen tag no longer exists."
    assert [e.path for e in preview.errors] == [(1,)]


def test_an_impossible_stored_date_is_a_clear_message_not_a_crash(org_a, marketer):
    from tests.segments.factories import make_field

    make_field(org_a, "renewal", "date")
    make_contact(org_a, "odd@example.jp", attributes={"renewal": "2025-02-30"})
    rules = {
        "match": "all",
        "rules": [{"field": "attr:renewal", "op": "lt", "value": "2025-03-01"}],
    }

    preview = preview_rules(marketer, rules)

    assert preview.count is None
    assert preview.message.startswith("Some contacts have a stored date that is not a real day")
    assert Segment.objects.count() == 0  # the connection is still usable
