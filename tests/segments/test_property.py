"""Random rule trees over random contacts: the compiled query on PostgreSQL returns exactly
the contacts the plain-Python reference (tests/segments/reference.py) says match.

The contacts include what real data holds and the compiler must survive: attributes of
the wrong JSON type (left over from a deleted field), empty strings, lists, JSON null,
full-width and Japanese text, LIKE wildcards, and created dates either side of midnight
in the organisation's time zone. Each example runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from contacts.enums import ConsentMethod, ContactStatus, FieldType
from contacts.models import Contact
from segments.rules import OPERATORS, Kind, validate_rules
from segments.services import catalogue_for, compile_rules, sendable
from tests.segments.factories import make_contact, make_field, make_list, make_tag
from tests.segments.reference import Person, evaluate

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
TODAY = datetime.date(2025, 6, 15)
NOW = datetime.datetime(2025, 6, 15, 12, 0, tzinfo=TOKYO)

TEXTS = [
    "",
    "山田",
    "yamada",
    "YAMADA",
    "Yamada Taro",
    "ａｂｃ",  # noqa: RUF001 - full-width letters, as typed with a Japanese IME
    "ab%_c",
    "x",
    "株式会社たより",
    "たより",
]
FULL_WIDTH_FIVE = "\uff15"
DOMAINS = ["docomo.ne.jp", "ezweb.ne.jp", "example.jp", "mail.example.jp", "example.co.jp"]
PLANS = ["gold", "silver", "ゴールド"]
DATES = ["2025-06-15", "2025-06-01", "2025-05-16", "2024-12-31", "2025-07-01", "1999-01-01"]
NUMBERS = [0, 1, 5, 5.0, 5.5, -3, 10, 100, 1e16, 0.1]

# Attribute values: the right type, the wrong type, and the awkward in between.
ANY_JSON = st.sampled_from(
    [None, "", "5", "abc", True, False, 5, 0.1, [], ["gold"], {"a": 1}, "2025-06-15x", "2025-6-1"]
)
ATTRIBUTE_VALUES = {
    "nickname": st.one_of(st.sampled_from(TEXTS), ANY_JSON),
    "score": st.one_of(st.sampled_from(NUMBERS), ANY_JSON),
    "renewal": st.one_of(st.sampled_from(DATES), ANY_JSON),
    "vip": st.one_of(st.booleans(), ANY_JSON),
    "plan": st.one_of(st.sampled_from(PLANS), ANY_JSON),
}


@st.composite
def people(draw):
    count = draw(st.integers(0, 8))
    result = []
    for index in range(count):
        local = draw(st.sampled_from(["taro", "Hanako", "info", "a.b", "sales-1", "x_y"]))
        attributes = {}
        for key, strategy in ATTRIBUTE_VALUES.items():
            if draw(st.booleans()):
                attributes[key] = draw(strategy)
        # Created at hours either side of midnight, up to 40 days back.
        hours = draw(st.integers(-40 * 24, 0)) + draw(st.sampled_from([0, 11, 12, 13]))
        result.append(
            Person(
                email=f"{local}{index}@{draw(st.sampled_from(DOMAINS))}",
                last_name=draw(st.sampled_from(TEXTS)),
                first_name=draw(st.sampled_from(TEXTS)),
                company=draw(st.sampled_from(TEXTS)),
                status=draw(st.sampled_from(ContactStatus.values)),
                consent_method=draw(st.sampled_from(ConsentMethod.values)),
                created_at=NOW + datetime.timedelta(hours=hours),
                attributes=attributes,
                tag_ids=frozenset(draw(st.sets(st.integers(0, 2)))),
                list_ids=frozenset(draw(st.sets(st.integers(0, 2)))),
            )
        )
    return result


def _value(kind: str, op: str, draw):
    if op in ("is_empty", "is_not_empty", "is_true", "is_false"):
        return None
    if op in ("within_last_days", "more_than_days_ago"):
        return draw(st.sampled_from([0, 1, 7, 30, 400]))
    if kind in (Kind.EMAIL, Kind.TEXT, Kind.ATTR_TEXT):
        text = [t for t in TEXTS if t] + ["TARO", "@docomo", "ne.jp", "a.b", "%", "_"]
        return draw(st.sampled_from(text))
    if kind == Kind.DOMAIN:
        if op in ("in", "not_in"):
            return draw(st.lists(st.sampled_from([*DOMAINS, "Example.JP"]), min_size=1))
        if op == "ends_with":
            return draw(st.sampled_from([*DOMAINS, "ne.jp", ".jp", ".co.jp", "DOCOMO.NE.JP"]))
        return draw(st.sampled_from([*DOMAINS, "DOCOMO.NE.JP", "@example.jp"]))
    if kind == Kind.NUMBER:
        if op == "between":
            return sorted(draw(st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=2)))
        return draw(st.sampled_from([*NUMBERS, "5", "1,000", FULL_WIDTH_FIVE]))
    if kind in (Kind.DATE, Kind.DATETIME):
        if op == "between":
            return sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
        return draw(st.sampled_from([*DATES, "2025/06/14", "2025年5月20日"]))
    if kind == Kind.CHOICE:
        return draw(st.lists(st.sampled_from(PLANS), min_size=1))
    if kind == Kind.ENUM:
        return None  # filled in by the caller, which knows the field's choices
    raise AssertionError(kind)


@st.composite
def conditions(draw, catalogue, tag_ids, list_ids):
    spec = draw(st.sampled_from([f for f in catalogue.fields.values() if f.kind != "engagement"]))
    op = draw(st.sampled_from(OPERATORS[spec.kind]))
    if spec.kind in (Kind.TAGS, Kind.LISTS):
        ids = tag_ids if spec.kind == Kind.TAGS else list_ids
        value = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3))
    elif spec.kind == Kind.ENUM:
        value = draw(st.lists(st.sampled_from([c for c, _l in spec.choices]), min_size=1))
    else:
        value = _value(spec.kind, op, draw)
    condition = {"field": spec.key, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


def trees(catalogue, tag_ids, list_ids):
    leaf = conditions(catalogue, tag_ids, list_ids)

    def group(children):
        return st.fixed_dictionaries(
            {
                "match": st.sampled_from(["all", "any"]),
                "rules": st.lists(children, min_size=1, max_size=3),
            }
        )

    return group(st.recursive(leaf, group, max_leaves=6))


@pytest.fixture
def world(org_a):
    make_field(org_a, "nickname", FieldType.TEXT)
    make_field(org_a, "score", FieldType.NUMBER)
    make_field(org_a, "renewal", FieldType.DATE)
    make_field(org_a, "vip", FieldType.BOOLEAN)
    make_field(org_a, "plan", FieldType.CHOICE, choices=PLANS)
    tags = [make_tag(org_a, name) for name in ("VIP", "展示会", "newsletter")]
    lists = [make_list(org_a, name) for name in ("Customers", "Prospects", "Seminar")]
    catalogue = catalogue_for(org_a, today=TODAY)
    assert catalogue.time_zone == TOKYO  # the organisation's zone (Asia/Tokyo by default)
    return org_a, catalogue, tags, lists


def _compiled_matches(organization, rules, catalogue, population):
    condition = compile_rules(organization, rules, catalogue=catalogue)
    contacts = Contact.objects.for_organization(organization)
    matched = set(contacts.filter(condition).values_list("email", flat=True))
    excluded = set(contacts.exclude(condition).values_list("email", flat=True))
    return (
        matched,
        excluded,
        set(sendable(contacts.filter(condition), organization.pk).values_list("email", flat=True)),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_compiled_rules_match_the_python_reference(world, data):
    organization, catalogue, tags, lists = world
    population = data.draw(people(), label="contacts")
    raw = data.draw(trees(catalogue, [t.pk for t in tags], [li.pk for li in lists]), label="rules")
    rules = validate_rules(raw, catalogue)

    with transaction.atomic():
        for person in population:
            make_contact(
                organization,
                person.email,
                last_name=person.last_name,
                first_name=person.first_name,
                company=person.company,
                status=person.status,
                consent_method=person.consent_method,
                created_at=person.created_at,
                attributes=person.attributes,
                tags=[tags[i] for i in person.tag_ids],
                lists=[lists[i] for i in person.list_ids],
            )
        people_by_email = {
            p.email: Person(**{**p.__dict__, "tag_ids": frozenset(tags[i].pk for i in p.tag_ids),
                               "list_ids": frozenset(lists[i].pk for i in p.list_ids)})
            for p in population
        }  # fmt: skip
        matched, excluded, sendable_matched = _compiled_matches(
            organization, rules, catalogue, population
        )
        transaction.set_rollback(True)

    expected = {e for e, p in people_by_email.items() if evaluate(rules, p, catalogue)}
    event("some match" if expected else "none match")
    event("some do not match" if set(people_by_email) - expected else "all match")
    assert matched == expected
    # Never NULL: what a rule does not match, its negation does (nobody falls between).
    assert excluded == set(people_by_email) - expected
    assert sendable_matched == {e for e in expected if people_by_email[e].status == "subscribed"}
