"""Campaign audiences: include/exclude lists and segments, deduplicated, without suppressed
or unsubscribed addresses, limited to what a member may see, never across organisations."""

from __future__ import annotations

import hashlib
import json

import pytest
from guardian.shortcuts import assign_perm

from contacts.enums import ContactStatus
from segments.models import Segment
from segments.services import (
    AudienceError,
    audience_contacts,
    audience_count,
    audience_definition,
    audience_sample,
)
from tests.segments.factories import make_contact, make_list, make_suppression, make_tag


def _segment(org, name, *conditions, match="all") -> Segment:
    return Segment.objects.create(
        organization=org, name=name, rules={"match": match, "rules": list(conditions)}
    )


def _emails(queryset) -> set[str]:
    return set(queryset.values_list("email", flat=True))


@pytest.fixture
def shop(org_a):
    """Organisation A: a newsletter list, a VIP tag, subscribers in both, one suppressed
    address, one unsubscribed contact."""
    newsletter, vip = make_list(org_a, "Newsletter"), make_tag(org_a, "VIP")
    both = make_contact(org_a, "both@example.jp", tags=[vip], lists=[newsletter])
    list_only = make_contact(org_a, "list@example.jp", lists=[newsletter])
    tag_only = make_contact(org_a, "tag@docomo.ne.jp", tags=[vip])
    suppressed = make_contact(org_a, "Suppressed@Example.jp", tags=[vip], lists=[newsletter])
    make_suppression(org_a, "suppressed@example.jp")
    gone = make_contact(
        org_a, "gone@example.jp", tags=[vip], lists=[newsletter], status=ContactStatus.UNSUBSCRIBED
    )
    vips = _segment(org_a, "VIPs", {"field": "tags", "op": "any", "value": [vip.pk]})
    return {
        "newsletter": newsletter,
        "vip": vip,
        "vips": vips,
        "contacts": [both, list_only, tag_only, suppressed, gone],
    }


def test_audience_is_the_union_of_lists_and_segments_once_per_address(org_a, shop):
    contacts = audience_contacts(
        org_a, include_lists=[shop["newsletter"]], include_segments=[shop["vips"]]
    )

    emails = list(contacts.values_list("email", flat=True))
    assert sorted(emails) == ["both@example.jp", "list@example.jp", "tag@docomo.ne.jp"]
    assert (
        audience_count(
            org_a, include_lists=[shop["newsletter"].pk], include_segments=[shop["vips"].pk]
        )
        == 3
    )


def test_audience_leaves_out_suppressed_and_unsubscribed_addresses(org_a, shop):
    everyone = _segment(org_a, "Everyone", {"field": "email", "op": "contains", "value": "@"})

    assert _emails(audience_contacts(org_a, include_segments=[everyone])) == {
        "both@example.jp",
        "list@example.jp",
        "tag@docomo.ne.jp",
    }


def test_a_lifted_suppression_no_longer_holds_an_address_back(org_a, shop):
    from django.utils import timezone

    from contacts.models import Suppression

    Suppression.objects.filter(organization=org_a).update(lifted_at=timezone.now())

    assert "Suppressed@Example.jp" in _emails(
        audience_contacts(org_a, include_lists=[shop["newsletter"]])
    )


def test_audience_subtracts_excluded_lists_and_segments(org_a, shop):
    docomo = _segment(
        org_a, "docomo", {"field": "email_domain", "op": "eq", "value": "docomo.ne.jp"}
    )

    without_list = audience_contacts(
        org_a, include_segments=[shop["vips"]], exclude_lists=[shop["newsletter"]]
    )
    without_segment = audience_contacts(
        org_a,
        include_lists=[shop["newsletter"]],
        include_segments=[shop["vips"]],
        exclude_segments=[docomo],
    )

    assert _emails(without_list) == {"tag@docomo.ne.jp"}
    assert _emails(without_segment) == {"both@example.jp", "list@example.jp"}


def test_excluding_a_segment_keeps_contacts_without_the_attribute(org_a):
    from tests.segments.factories import make_field

    make_field(org_a, "score", "number")
    everyone = make_list(org_a, "All")
    make_contact(org_a, "high@example.jp", attributes={"score": 90}, lists=[everyone])
    make_contact(org_a, "low@example.jp", attributes={"score": 10}, lists=[everyone])
    make_contact(org_a, "none@example.jp", lists=[everyone])
    high = _segment(org_a, "High", {"field": "attr:score", "op": "gt", "value": 50})

    contacts = audience_contacts(org_a, include_lists=[everyone], exclude_segments=[high])

    assert _emails(contacts) == {"low@example.jp", "none@example.jp"}


def test_audience_with_nothing_included_is_nobody(org_a, shop):
    assert audience_count(org_a, exclude_lists=[shop["newsletter"]]) == 0
    assert audience_sample(org_a) == []


def test_audience_count_is_exactly_the_number_of_contacts(org_a, shop):
    audience = {"include_lists": [shop["newsletter"]], "include_segments": [shop["vips"]]}

    assert audience_count(org_a, **audience) == len(audience_contacts(org_a, **audience)) == 3


def test_audience_sample_gives_up_to_n_contacts_newest_first(org_a, shop):
    sample = audience_sample(org_a, include_segments=[shop["vips"]], n=2)

    assert [c.email for c in sample] == ["tag@docomo.ne.jp", "both@example.jp"]


def test_audience_refuses_lists_and_segments_of_another_organisation(org_a, org_b, shop):
    their_list = make_list(org_b, "Newsletter")
    their_segment = _segment(org_b, "Theirs", {"field": "email", "op": "contains", "value": "@"})

    with pytest.raises(AudienceError) as list_error:
        audience_contacts(org_a, include_lists=[their_list])
    with pytest.raises(AudienceError) as segment_error:
        audience_count(org_a, exclude_segments=[their_segment.pk])
    with pytest.raises(AudienceError):
        audience_definition(org_a, include_segments=[their_segment])

    assert str(list_error.value) == f"List {their_list.pk} does not exist."
    assert str(segment_error.value) == f"Segment {their_segment.pk} does not exist."


def test_an_outsiders_segment_never_matches_another_organisations_contacts(org_a, org_b, shop):
    make_contact(org_b, "b-only@example.jp")
    theirs = _segment(org_b, "Everyone", {"field": "email", "op": "contains", "value": "@"})

    assert _emails(audience_contacts(org_b, include_segments=[theirs])) == {"b-only@example.jp"}


def test_a_segment_whose_rules_no_longer_compile_is_reported_by_name(org_a, shop):
    shop["vip"].delete()

    with pytest.raises(AudienceError) as error:
        audience_count(org_a, include_segments=[shop["vips"]])

    assert str(error.value) == "Segment “VIPs”: Condition 1 (Tags): a chosen tag no longer exists."


def test_list_grants_limit_what_a_member_counts_and_samples(org_a, shop, marketer, admin):
    board = make_list(org_a, "Board members", restricted=True)
    vip_board = make_contact(org_a, "ceo@example.jp", tags=[shop["vip"]], lists=[board])
    # Also in an open list: a restricted list hides its contacts whatever else they are in.
    make_contact(org_a, "cfo@example.jp", tags=[shop["vip"]], lists=[board, shop["newsletter"]])
    audience = {"include_segments": [shop["vips"]], "include_lists": [shop["newsletter"]]}

    for_marketer = audience_count(org_a, membership=marketer, **audience)
    marketer_sample = audience_sample(org_a, membership=marketer, **audience)
    for_admin = audience_count(org_a, membership=admin, **audience)
    assign_perm("contacts.view_contactlist", marketer.user, board)
    marketer.__dict__.pop("_contact_list_grants", None)  # the per-request grant cache
    after_grant = audience_count(org_a, membership=marketer, **audience)

    assert for_marketer == 3
    assert {c.email for c in marketer_sample} == {
        "both@example.jp",
        "list@example.jp",
        "tag@docomo.ne.jp",
    }
    assert for_admin == after_grant == audience_count(org_a, **audience) == 5
    assert vip_board.email in _emails(audience_contacts(org_a, **audience))


def test_audience_definition_is_canonical_and_follows_rule_changes(org_a, shop):
    other = make_list(org_a, "Other")
    docomo = _segment(
        org_a, "docomo", {"field": "email_domain", "op": "eq", "value": "docomo.ne.jp"}
    )

    as_objects = audience_definition(
        org_a, include_lists=[other, shop["newsletter"]], include_segments=[docomo, shop["vips"]]
    )
    as_ids = audience_definition(
        org_a,
        include_lists=[shop["newsletter"].pk, other.pk],
        include_segments=[shop["vips"].pk, docomo.pk],
    )
    docomo.rules = {
        "match": "all",
        "rules": [{"field": "email_domain", "op": "eq", "value": "ezweb.ne.jp"}],
    }
    docomo.save()
    changed = audience_definition(
        org_a, include_lists=[other, shop["newsletter"]], include_segments=[docomo, shop["vips"]]
    )

    assert (
        as_objects
        == as_ids
        == {
            "version": 1,
            "include_lists": sorted([shop["newsletter"].pk, other.pk]),
            "exclude_lists": [],
            "include_segments": [
                {"id": shop["vips"].pk, "rules": shop["vips"].rules},
                {
                    "id": docomo.pk,
                    "rules": {
                        "match": "all",
                        "rules": [{"field": "email_domain", "op": "eq", "value": "docomo.ne.jp"}],
                    },
                },
            ],
            "exclude_segments": [],
        }
    )

    def fingerprint(definition):
        return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()

    assert fingerprint(changed) != fingerprint(as_objects)


def test_audience_reads_segments_fresh_from_the_database(org_a, shop):
    stale = Segment.objects.get(pk=shop["vips"].pk)
    Segment.objects.filter(pk=stale.pk).update(
        rules={
            "match": "all",
            "rules": [{"field": "email", "op": "eq", "value": "list@example.jp"}],
        }
    )

    assert _emails(audience_contacts(org_a, include_segments=[stale])) == {"list@example.jp"}
