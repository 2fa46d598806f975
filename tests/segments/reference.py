"""A plain-Python evaluation of segment rules: the reference the compiled queries are
checked against (tests/segments/test_property.py). Written from the semantics in
``segments.rules`` and docs/segments.md, not from the compiler's code.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from decimal import Decimal

from segments.rules import STORED_DATE_SHAPE, Catalogue, Kind, is_group


@dataclass
class Person:
    """What the rules can see of one contact."""

    email: str
    last_name: str = ""
    first_name: str = ""
    company: str = ""
    status: str = "subscribed"
    consent_method: str = "web_form"
    created_at: datetime.datetime | None = None
    attributes: dict = field(default_factory=dict)
    tag_ids: frozenset = frozenset()
    list_ids: frozenset = frozenset()


def _number(value) -> Decimal:
    # PostgreSQL reads the JSON text Django wrote; json.dumps is that text.
    return Decimal(json.dumps(value))


def _is_number(raw) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _is_date(raw) -> bool:
    return isinstance(raw, str) and STORED_DATE_SHAPE.fullmatch(raw) is not None


def _text(raw: str | None, op: str, value, present: bool) -> bool:
    if op == "is_empty":
        return not present
    if op == "is_not_empty":
        return present
    haystack = raw.upper() if present else ""
    needle = value.upper() if isinstance(value, str) else value
    positive = (
        present
        and {
            "eq": lambda: haystack == needle,
            "neq": lambda: haystack == needle,
            "contains": lambda: needle in haystack,
            "not_contains": lambda: needle in haystack,
            "starts_with": lambda: haystack.startswith(needle),
            "ends_with": lambda: haystack.endswith(needle),
        }[op]()
    )
    return not positive if op in ("neq", "not_contains") else positive


def _compare(current, op: str, value, parse) -> bool:
    if op == "between":
        low, high = (parse(v) for v in value)
        return low <= current <= high
    target = parse(value)
    return {
        "lt": current < target,
        "lte": current <= target,
        "gt": current > target,
        "gte": current >= target,
        "eq": current == target,
    }[op]


def evaluate(rules: dict, person: Person, catalogue: Catalogue) -> bool:
    """Whether ``person`` matches the canonical tree ``rules``."""
    results = (
        evaluate(child, person, catalogue)
        if is_group(child)
        else _condition(child, person, catalogue)
        for child in rules["rules"]
    )
    return all(results) if rules["match"] == "all" else any(results)


def _condition(condition: dict, person: Person, catalogue: Catalogue) -> bool:
    spec = catalogue.fields[condition["field"]]
    op, value = condition["op"], condition.get("value")
    today = catalogue.today
    kind = spec.kind
    if kind == Kind.EMAIL:
        if op in ("eq", "neq"):
            same = person.email.lower() == value.lower()
            return same if op == "eq" else not same
        return _text(person.email, op, value, present=True)
    if kind == Kind.DOMAIN:
        domain = person.email.split("@", 1)[1].lower()
        if op == "ends_with":
            return domain.endswith(value)
        positive = domain == value if op in ("eq", "neq") else domain in value
        return positive if op in ("eq", "in") else not positive
    if kind == Kind.TEXT:
        raw = getattr(person, spec.key)
        return _text(raw, op, value, present=raw != "")
    if kind == Kind.ENUM:
        inside = getattr(person, spec.key) in value
        return inside if op == "in" else not inside
    if kind in (Kind.TAGS, Kind.LISTS):
        have = person.tag_ids if kind == Kind.TAGS else person.list_ids
        if op == "all":
            return set(value) <= have
        positive = bool(set(value) & have)
        return positive if op == "any" else not positive
    if kind == Kind.DATETIME:
        day = person.created_at.astimezone(catalogue.time_zone).date()
        if op == "within_last_days":
            return day >= today - datetime.timedelta(days=value)
        if op == "more_than_days_ago":
            return day < today - datetime.timedelta(days=value)
        if op == "neq":
            return day != datetime.date.fromisoformat(value)
        return _compare(day, op, value, datetime.date.fromisoformat)

    raw = person.attributes.get(spec.attribute_key) if isinstance(person.attributes, dict) else None
    if kind in (Kind.ATTR_TEXT, Kind.CHOICE):
        present = isinstance(raw, str) and raw != ""
        if kind == Kind.ATTR_TEXT:
            return _text(raw, op, value, present)
        if op in ("in", "not_in"):
            inside = isinstance(raw, str) and raw in value
            return inside if op == "in" else not inside
        return present if op == "is_not_empty" else not present
    if kind == Kind.BOOLEAN:
        present = isinstance(raw, bool)
        return {
            "is_true": raw is True,
            "is_false": raw is False,
            "is_empty": not present,
            "is_not_empty": present,
        }[op]
    if kind == Kind.NUMBER:
        present = _is_number(raw)
        if op in ("is_empty", "is_not_empty"):
            return present if op == "is_not_empty" else not present
        if op == "neq":
            return not (present and _number(raw) == _number(value))
        return present and _compare(_number(raw), op, value, _number)
    if kind == Kind.DATE:
        present = _is_date(raw)
        if op in ("is_empty", "is_not_empty"):
            return present if op == "is_not_empty" else not present
        if op == "neq":
            return not (present and raw == value)
        if not present:
            return False
        day = datetime.date.fromisoformat(raw)
        if op == "within_last_days":
            return today - datetime.timedelta(days=value) <= day <= today
        if op == "more_than_days_ago":
            return day < today - datetime.timedelta(days=value)
        return _compare(day, op, value, datetime.date.fromisoformat)
    raise AssertionError(f"no reference for {kind}")
