"""Every operator of every field type, against the four contacts of the ``people`` fixture:

- taro@docomo.ne.jp   山田 太郎, subscribed, web form, added 2025-06-15 10:00 (Tokyo),
                      nickname "Taro-chan", score 80, renewal 2025-06-10, VIP yes, plan gold,
                      tag VIP, list Customers
- hanako@ezweb.ne.jp  Suzuki, unsubscribed, import, added 2025-05-01 00:30 (Tokyo),
                      score 5.5, renewal 2024-12-31, VIP no, plan silver,
                      tags VIP + 展示会, lists Customers + Prospects
- info@example.co.jp  no name, bounced, API, added 2024-01-01; every attribute of the
                      wrong type (nickname "", score "80", renewal "someday", vip "yes", plan 3)
- sales@mail.example.jp  yamada, subscribed, business relationship, added 2025-06-14 23:59,
                      no attributes, tag 展示会, list Prospects

Today is 2025-06-15 in Tokyo.
"""

from __future__ import annotations

import pytest

from contacts.models import Contact
from segments.rules import OPERATORS, Kind
from segments.services import compile_rules

T, H, I, S = "taro", "hanako", "info", "sales"  # noqa: E741 - names of the four contacts

CASES = [
    # e-mail address: case-insensitive
    ("email", "eq", "TARO@docomo.ne.jp", {T}),
    ("email", "neq", "taro@docomo.ne.jp", {H, I, S}),
    ("email", "contains", "EXAMPLE", {I, S}),
    ("email", "not_contains", "example", {T, H}),
    ("email", "starts_with", "SALES", {S}),
    ("email", "ends_with", ".ne.jp", {T, H}),
    # e-mail domain: the whole domain, or its end
    ("email_domain", "eq", "DOCOMO.ne.jp", {T}),
    ("email_domain", "eq", "example.jp", set()),  # mail.example.jp is another domain
    ("email_domain", "neq", "docomo.ne.jp", {H, I, S}),
    ("email_domain", "in", ["docomo.ne.jp", "ezweb.ne.jp"], {T, H}),
    ("email_domain", "not_in", ["docomo.ne.jp", "ezweb.ne.jp"], {I, S}),
    ("email_domain", "ends_with", "example.jp", {S}),
    ("email_domain", "ends_with", ".co.jp", {I}),
    # name fields: case-insensitive; "" is empty
    ("last_name", "eq", "YAMADA", {S}),
    ("last_name", "neq", "yamada", {T, H, I}),
    ("last_name", "contains", "山", {T}),
    ("last_name", "not_contains", "a", {T, H, I}),
    ("last_name", "starts_with", "suz", {H}),
    ("last_name", "is_empty", None, {I}),
    ("last_name", "is_not_empty", None, {T, H, S}),
    ("company", "contains", "たより", {T, S}),
    ("first_name", "is_not_empty", None, {T}),
    # status and consent
    ("status", "in", ["subscribed"], {T, S}),
    ("status", "not_in", ["subscribed", "bounced"], {H}),
    ("consent_method", "in", ["import", "api"], {H, I}),
    ("consent_method", "not_in", ["web_form"], {H, I, S}),
    # added on: dates in Tokyo
    ("created_at", "eq", "2025-05-01", {H}),
    ("created_at", "neq", "2025-05-01", {T, I, S}),
    ("created_at", "lt", "2025-05-01", {I}),
    ("created_at", "lte", "2025-05-01", {H, I}),
    ("created_at", "gt", "2025-06-14", {T}),
    ("created_at", "gte", "2025-06-14", {T, S}),
    ("created_at", "between", ["2025-05-01", "2025-06-14"], {H, S}),
    ("created_at", "within_last_days", 1, {T, S}),
    ("created_at", "within_last_days", 0, {T}),
    ("created_at", "more_than_days_ago", 45, {I}),
    ("created_at", "more_than_days_ago", 44, {H, I}),
    # tags and lists
    ("tags", "any", ["vip"], {T, H}),
    ("tags", "any", ["vip", "fair"], {T, H, S}),
    ("tags", "all", ["vip", "fair"], {H}),
    ("tags", "none", ["vip"], {I, S}),
    ("lists", "any", ["prospects"], {H, S}),
    ("lists", "all", ["customers", "prospects"], {H}),
    ("lists", "none", ["customers"], {I, S}),
    # custom text
    ("attr:nickname", "eq", "taro-CHAN", {T}),
    ("attr:nickname", "neq", "taro-chan", {H, I, S}),
    ("attr:nickname", "contains", "CHAN", {T}),
    ("attr:nickname", "not_contains", "chan", {H, I, S}),
    ("attr:nickname", "starts_with", "taro", {T}),
    ("attr:nickname", "is_empty", None, {H, I, S}),
    ("attr:nickname", "is_not_empty", None, {T}),
    # custom number: compared as numbers (80 > 9, which "80" > "9" as text is not)
    ("attr:score", "eq", 80, {T}),
    ("attr:score", "eq", "80.0", {T}),
    ("attr:score", "neq", 80, {H, I, S}),
    ("attr:score", "lt", 10, {H}),
    ("attr:score", "lte", 5.5, {H}),
    ("attr:score", "gt", 9, {T}),
    ("attr:score", "gte", "5.5", {T, H}),
    ("attr:score", "between", [5, 80], {T, H}),
    ("attr:score", "between", [6, 79], set()),
    ("attr:score", "is_empty", None, {I, S}),
    ("attr:score", "is_not_empty", None, {T, H}),
    # custom date
    ("attr:renewal", "eq", "2025-06-10", {T}),
    ("attr:renewal", "neq", "2025/06/10", {H, I, S}),
    ("attr:renewal", "lt", "2025-01-01", {H}),
    ("attr:renewal", "lte", "2025-06-10", {T, H}),
    ("attr:renewal", "gt", "2024-12-31", {T}),
    ("attr:renewal", "gte", "2024-12-31", {T, H}),
    ("attr:renewal", "between", ["2024-12-01", "2025-01-31"], {H}),
    ("attr:renewal", "within_last_days", 7, {T}),
    ("attr:renewal", "within_last_days", 4, set()),
    ("attr:renewal", "within_last_days", 500, {T, H}),  # over 400 days: cast, not a list
    ("attr:renewal", "between", ["2020-01-01", "2025-06-10"], {T, H}),
    ("attr:renewal", "more_than_days_ago", 30, {H}),
    ("attr:renewal", "is_empty", None, {I, S}),
    ("attr:renewal", "is_not_empty", None, {T, H}),
    # custom yes/no
    ("attr:vip", "is_true", None, {T}),
    ("attr:vip", "is_false", None, {H}),
    ("attr:vip", "is_empty", None, {I, S}),
    ("attr:vip", "is_not_empty", None, {T, H}),
    # custom choice
    ("attr:plan", "in", ["gold"], {T}),
    ("attr:plan", "in", ["gold", "silver"], {T, H}),
    ("attr:plan", "not_in", ["gold"], {H, I, S}),
    ("attr:plan", "is_empty", None, {I, S}),
    ("attr:plan", "is_not_empty", None, {T, H}),
]


def _value(value, people):
    """Tag and list names in CASES stand for the fixture's ids."""
    if isinstance(value, list) and value and value[0] in people["tags"]:
        return [people["tags"][name].pk for name in value]
    if isinstance(value, list) and value and value[0] in people["lists"]:
        return [people["lists"][name].pk for name in value]
    return value


def _matching(org, people, field, op, value) -> set[str]:
    condition = {"field": field, "op": op}
    if value is not None:
        condition["value"] = _value(value, people)
    rules = {"match": "all", "rules": [condition]}
    q = compile_rules(org, rules, catalogue=people["catalogue"])
    emails = Contact.objects.for_organization(org).filter(q).values_list("email", flat=True)
    return {email.split("@")[0] for email in emails}


@pytest.mark.parametrize(("field", "op", "value", "expected"), CASES)
def test_operator_matches_exactly(org_a, people, field, op, value, expected):
    assert _matching(org_a, people, field, op, value) == expected


def test_every_operator_of_every_field_type_has_a_case(people):
    catalogue = people["catalogue"]
    covered = {(catalogue.fields[field].kind, op) for field, op, _value, _expected in CASES}
    every = {(kind, op) for kind, ops in OPERATORS.items() if kind != Kind.ENGAGEMENT for op in ops}

    assert every - covered == set()


def test_groups_combine_all_and_any(org_a, people):
    vip = people["tags"]["vip"].pk
    rules = {
        "match": "any",
        "rules": [
            {
                "match": "all",
                "rules": [
                    {"field": "tags", "op": "any", "value": [vip]},
                    {"field": "attr:score", "op": "gt", "value": 50},
                ],
            },
            {
                "match": "all",
                "rules": [
                    {"field": "email_domain", "op": "ends_with", "value": "example.jp"},
                    {"field": "created_at", "op": "within_last_days", "value": 30},
                    {"field": "status", "op": "in", "value": ["subscribed"]},
                ],
            },
        ],
    }
    q = compile_rules(org_a, rules, catalogue=people["catalogue"])

    emails = set(Contact.objects.for_organization(org_a).filter(q).values_list("email", flat=True))

    assert emails == {"taro@docomo.ne.jp", "sales@mail.example.jp"}
