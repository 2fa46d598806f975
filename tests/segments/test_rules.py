"""The rule schema: what it refuses (each with the message a person sees) and the
canonical form it stores."""

from __future__ import annotations

import pytest

from segments import engagement
from segments.rules import RuleError, validate_rules
from segments.services import compile_rules
from tests.segments.factories import make_list, make_tag


def _one(condition) -> dict:
    return {"match": "all", "rules": [condition]}


NUMBER_OPS = "eq, neq, lt, lte, gt, gte, between, is_empty, is_not_empty"

REFUSALS = [
    ([], "Rules: expected a group of conditions."),
    ({"rules": []}, "Rules: choose whether all or any of the conditions must match."),
    ({"match": "all", "rules": []}, "Rules: add at least one condition."),
    ({"match": "all", "rules": {}}, "Rules: expected a list of conditions."),
    ({"match": "all", "rules": [], "negate": True}, "Rules: unexpected “negate”."),
    (
        {
            "match": "all",
            "rules": [
                {"field": "email", "op": "contains", "value": "a"},
                {"match": "any", "rules": []},
            ],
        },
        "Group 2: add at least one condition.",
    ),
    (
        _one(
            {
                "match": "all",
                "rules": [
                    {
                        "match": "all",
                        "rules": [
                            {
                                "match": "any",
                                "rules": [
                                    {
                                        "match": "any",
                                        "rules": [
                                            {"field": "email", "op": "contains", "value": "a"}
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ),
        "Group 1.1.1.1: groups may be nested at most 3 deep.",
    ),
    (
        {"match": "all", "rules": [{"field": "email", "op": "contains", "value": "a"}] * 51},
        "Rules: a segment may have at most 50 conditions; it has 51.",
    ),
    (_one("email"), "Condition 1: expected a condition or a group."),
    (_one({"op": "eq", "value": "x"}), "Condition 1: choose a field."),
    (
        _one({"field": "shoe_size", "op": "eq", "value": 1}),
        "Condition 1: unknown field “shoe_size”.",
    ),
    (_one({"field": "email"}), "Condition 1 (E-mail address): choose an operator."),
    (
        _one({"field": "email", "op": "eq", "value": "a@b.jp", "note": "x"}),
        "Condition 1 (E-mail address): unexpected “note”.",
    ),
    (
        {
            "match": "any",
            "rules": [
                {"field": "email", "op": "contains", "value": "a"},
                {
                    "match": "all",
                    "rules": [{"field": "attr:score", "op": "contains", "value": "8"}],
                },
            ],
        },
        "Condition 2.1 (Score): the operator “contains” does not apply to this field "
        f"(use one of: {NUMBER_OPS}).",
    ),
    (_one({"field": "email", "op": "contains"}), "Condition 1 (E-mail address): enter a value."),
    (
        _one({"field": "email", "op": "contains", "value": "  "}),
        "Condition 1 (E-mail address): enter a value.",
    ),
    (
        _one({"field": "email", "op": "contains", "value": 5}),
        "Condition 1 (E-mail address): expected text.",
    ),
    (
        _one({"field": "last_name", "op": "contains", "value": "x" * 201}),
        "Condition 1 (Last name): longer than 200 characters.",
    ),
    (
        _one({"field": "last_name", "op": "is_empty", "value": "x"}),
        "Condition 1 (Last name): this operator takes no value.",
    ),
    (
        _one({"field": "email_domain", "op": "eq", "value": "not a domain!"}),
        "Condition 1 (E-mail domain): “not a domain!” is not a domain.",
    ),
    (
        _one({"field": "email_domain", "op": "in", "value": []}),
        "Condition 1 (E-mail domain): choose at least one value.",
    ),
    (
        _one({"field": "attr:score", "op": "gt", "value": "abc"}),
        "Condition 1 (Score): “abc” is not a number.",
    ),
    (
        _one({"field": "attr:score", "op": "gt", "value": True}),
        "Condition 1 (Score): expected a number.",
    ),
    (
        _one({"field": "attr:score", "op": "between", "value": [10]}),
        "Condition 1 (Score): enter a lower and an upper bound.",
    ),
    (
        _one({"field": "attr:score", "op": "between", "value": [10, 9.5]}),
        "Condition 1 (Score): the lower bound is greater than the upper bound.",
    ),
    (
        _one({"field": "attr:renewal", "op": "eq", "value": "2025-02-30"}),
        "Condition 1 (Renewal): “2025-02-30” is not a date (use YYYY-MM-DD).",
    ),
    (
        _one({"field": "created_at", "op": "lt", "value": 20250101}),
        "Condition 1 (Added on): expected a date (YYYY-MM-DD).",
    ),
    (
        _one({"field": "created_at", "op": "within_last_days", "value": -1}),
        "Condition 1 (Added on): the number of days must be between 0 and 36500.",
    ),
    (
        _one({"field": "attr:renewal", "op": "more_than_days_ago", "value": "soon"}),
        "Condition 1 (Renewal): expected a whole number of days.",
    ),
    (
        _one({"field": "attr:plan", "op": "in", "value": ["bronze"]}),
        "Condition 1 (Plan): “bronze” is not one of the choices (gold, silver, platinum).",
    ),
    (
        _one({"field": "status", "op": "in", "value": ["deleted"]}),
        "Condition 1 (Status): “deleted” is not one of the choices "
        "(subscribed, unsubscribed, bounced, complained).",
    ),
    (
        _one({"field": "tags", "op": "any", "value": [999999]}),
        "Condition 1 (Tags): a chosen tag no longer exists.",
    ),
    (
        _one({"field": "tags", "op": "any", "value": ["x"]}),
        "Condition 1 (Tags): expected a list of ids.",
    ),
    (
        _one({"field": "lists", "op": "any", "value": [999999]}),
        "Condition 1 (Lists): a chosen list no longer exists or is not visible to you.",
    ),
    (
        _one({"field": "engagement", "op": "opened", "value": {}}),
        "Condition 1 (Engagement): choose a campaign, or a number of days for any campaign.",
    ),
    (
        _one({"field": "engagement", "op": "opened", "value": {"campaign": 1, "link": "x"}}),
        "Condition 1 (Engagement): unexpected “link”.",
    ),
]


@pytest.mark.parametrize(("rules", "message"), REFUSALS)
def test_schema_refuses_with_a_message_naming_the_condition(people, rules, message):
    with pytest.raises(RuleError) as error:
        validate_rules(rules, people["catalogue"])

    assert str(error.value) == message


def test_schema_reports_every_problem_with_its_position(people):
    rules = {
        "match": "all",
        "rules": [
            {"field": "attr:score", "op": "gt", "value": "abc"},
            {"field": "email", "op": "contains", "value": "ok"},
            {"match": "any", "rules": [{"field": "nope", "op": "eq", "value": 1}]},
        ],
    }

    with pytest.raises(RuleError) as error:
        validate_rules(rules, people["catalogue"])

    assert [(e.path, e.message) for e in error.value.errors] == [
        ((1,), "Condition 1 (Score): “abc” is not a number."),
        ((3, 1), "Condition 3.1: unknown field “nope”."),
    ]
    assert error.value.path == (1,)


def test_schema_stores_values_in_their_canonical_form(people):
    vip = people["tags"]["vip"].pk
    rules = {
        "match": "any",
        "rules": [
            {"field": "attr:score", "op": "between", "value": ["1,000", "２０００円"]},
            {"field": "attr:renewal", "op": "lt", "value": "2025年6月1日"},
            {
                "field": "email_domain",
                "op": "in",
                "value": ["@Example.JP", "例え.jp", "example.jp"],
            },
            {"field": "tags", "op": "any", "value": [str(vip), vip]},
            {"field": "status", "op": "in", "value": ["bounced", "subscribed"]},
            {"field": "last_name", "op": "is_empty", "value": ""},
            {"field": "email", "op": "contains", "value": "  taro "},
        ],
    }

    canonical = validate_rules(rules, people["catalogue"])

    assert canonical == {
        "match": "any",
        "rules": [
            {"field": "attr:score", "op": "between", "value": [1000, 2000]},
            {"field": "attr:renewal", "op": "lt", "value": "2025-06-01"},
            {"field": "email_domain", "op": "in", "value": ["example.jp", "xn--r8jz45g.jp"]},
            {"field": "tags", "op": "any", "value": [vip]},
            {"field": "status", "op": "in", "value": ["subscribed", "bounced"]},
            {"field": "last_name", "op": "is_empty"},
            {"field": "email", "op": "contains", "value": "taro"},
        ],
    }
    assert validate_rules(canonical, people["catalogue"]) == canonical


def test_engagement_conditions_are_refused_until_delivery_registers_a_compiler(org_a, people):
    rules = _one({"field": "engagement", "op": "opened", "value": {"days": 30}})

    with engagement.override(None), pytest.raises(RuleError) as error:
        compile_rules(org_a, rules, catalogue=people["catalogue"])

    assert str(error.value) == (
        "Condition 1 (Engagement): engagement conditions need delivery data; "
        "available once sending is enabled."
    )


def test_engagement_conditions_compile_through_the_registered_compiler(org_a, people):
    from django.db.models import Q

    from contacts.models import Contact

    seen = []

    class Delivery:
        def campaign_choices(self, organization):
            return [(7, "Summer sale")]

        def compile(self, organization, condition):
            seen.append(condition)
            if condition.campaign_id == 8:
                raise ValueError("campaign 8 is not one of yours.")
            return Q(email__startswith="taro")

    with engagement.override(Delivery()):
        opened = _one({"field": "engagement", "op": "opened", "value": {"campaign": 7}})
        q = compile_rules(org_a, opened, catalogue=people["catalogue"])
        with pytest.raises(RuleError) as error:
            compile_rules(
                org_a,
                _one({"field": "engagement", "op": "clicked", "value": {"campaign": "8"}}),
                catalogue=people["catalogue"],
            )

    emails = list(Contact.objects.for_organization(org_a).filter(q).values_list("email", flat=True))
    assert emails == ["taro@docomo.ne.jp"]
    assert [(c.action, c.campaign_id, c.within_days, str(c.today)) for c in seen] == [
        ("opened", 7, None, "2025-06-15"),
        ("clicked", 8, None, "2025-06-15"),
    ]
    assert str(error.value) == "Condition 1 (Engagement): campaign 8 is not one of yours."


def test_rules_may_not_name_another_organisations_tags_or_lists(org_a, org_b, people):
    their_tag, their_list = make_tag(org_b, "VIP"), make_list(org_b, "Customers")

    for field, pk in (("tags", their_tag.pk), ("lists", their_list.pk)):
        with pytest.raises(RuleError):
            compile_rules(org_a, _one({"field": field, "op": "any", "value": [pk]}))
