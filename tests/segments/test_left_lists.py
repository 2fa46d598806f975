"""Segments and audiences after a person left a list from a message: an included list or
an "in the list" rule no longer reaches them; an excluded list, a "in none of" rule, or
an excluded segment with either kind of list rule still keeps them out."""

from __future__ import annotations

import pytest

from contacts.models import ListMembership
from segments.models import Segment
from segments.services import audience_contacts
from tests.segments.factories import make_contact, make_list


@pytest.fixture
def people(org_a):
    """News and Events; ``left`` left News (still on Events), ``stays`` is on both."""
    news, events = make_list(org_a, "News"), make_list(org_a, "Events")
    make_contact(org_a, "left@example.jp", lists=[news, events])
    make_contact(org_a, "stays@example.jp", lists=[news, events])
    ListMembership.objects.filter(contact__email="left@example.jp", contact_list=news).update(
        unsubscribed_at="2025-04-01T00:00:00Z"
    )
    return news, events


def _segment(org, op: str, *lists) -> Segment:
    rule = {"field": "lists", "op": op, "value": [cl.pk for cl in lists]}
    return Segment.objects.create(
        organization=org, name=op, rules={"match": "all", "rules": [rule]}
    )


def _emails(queryset) -> list[str]:
    return sorted(queryset.values_list("email", flat=True))


def test_an_included_list_leaves_out_who_left_it(org_a, people):
    news, events = people

    assert _emails(audience_contacts(org_a, include_lists=[news])) == ["stays@example.jp"]
    assert _emails(audience_contacts(org_a, include_lists=[events])) == [
        "left@example.jp",
        "stays@example.jp",
    ]


def test_an_excluded_list_still_keeps_out_who_left_it(org_a, people):
    news, events = people

    audience = audience_contacts(org_a, include_lists=[events], exclude_lists=[news])

    assert _emails(audience) == []


@pytest.mark.parametrize(
    ("op", "which", "expected"),
    [
        ("any", "news", ["stays@example.jp"]),
        ("all", "both", ["stays@example.jp"]),
        ("any", "events", ["left@example.jp", "stays@example.jp"]),
        ("none", "news", []),
    ],
)
def test_list_rules_count_only_subscribed_members_but_none_keeps_them_out(
    org_a, people, op, which, expected
):
    news, events = people
    lists = {"news": [news], "events": [events], "both": [news, events]}[which]

    audience = audience_contacts(org_a, include_segments=[_segment(org_a, op, *lists)])

    assert _emails(audience) == expected


@pytest.mark.parametrize(
    ("op", "which", "expected"),
    [
        # "left" left News: an excluded "in News" segment still keeps them out...
        ("any", "news", []),
        ("all", "both", []),
        # ...and an excluded "in none of News" segment now keeps them out too.
        ("none", "news", ["stays@example.jp"]),
        ("any", "events", []),
    ],
)
def test_an_excluded_segment_keeps_out_at_least_as_many_after_someone_left_a_list(
    org_a, people, op, which, expected
):
    news, events = people
    lists = {"news": [news], "events": [events], "both": [news, events]}[which]

    audience = audience_contacts(
        org_a, include_lists=[events], exclude_segments=[_segment(org_a, op, *lists)]
    )

    assert _emails(audience) == expected
