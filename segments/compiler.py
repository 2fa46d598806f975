"""Rule trees to Django ORM filters over ``contacts.Contact``.

The input is a canonical tree (``segments.rules.validate_rules``); user values only ever
travel as query parameters. Two properties hold for every compiled condition, and the
property test checks them against a plain-Python evaluation:

- it is never SQL NULL: a condition on a missing attribute is FALSE, not unknown, so a
  negated condition, an "any" group or an excluded segment behaves as it reads;
- it never raises on stored data: an attribute is cast to ``numeric``/``date`` only inside
  a ``CASE`` that first checks its JSON type (and, for dates, the ``YYYY-MM-DD`` shape), so
  a value left over from a deleted field of another type counts as "no value".

Index use on PostgreSQL (see ``segments/migrations/0002_contact_indexes.py``): equality on
attributes compiles to ``attributes @> {...}`` (GIN, jsonb_path_ops); the e-mail domain to
a prefix match on ``reverse(lower(email))``; the added date to a range on ``created_at``;
tags and lists to ``EXISTS`` on their join tables.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from functools import reduce
from operator import and_, or_

from django.db.models import (
    BooleanField,
    Case,
    DateField,
    DecimalField,
    Exists,
    Expression,
    F,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Lower, Reverse
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IEndsWith,
    IExact,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
    Regex,
    StartsWith,
)

from contacts.models import Contact, ListMembership
from segments import engagement
from segments.rules import DATE_PATTERN, Catalogue, Field, Kind, RuleError, is_group


class _Numeric(DecimalField):
    """``numeric`` without precision: the cast keeps every stored digit."""

    def cast_db_type(self, connection):
        return "numeric"


class HasJSONType(Expression):
    """TRUE when ``attributes -> key`` holds a JSON value of ``json_type`` (string, number,
    boolean); FALSE (never NULL) when the key is missing or holds another type."""

    conditional = True
    output_field = BooleanField()

    _SQLITE_TYPES = {
        "string": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
    }

    def __init__(self, column: str, key: str, json_type: str):
        super().__init__()
        self.column, self.key, self.json_type = column, key, json_type

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, *args, **kwargs):
        clone = self.copy()
        clone.target = F(self.column).resolve_expression(query, allow_joins, reuse)
        return clone

    def get_source_expressions(self):
        target = getattr(self, "target", None)
        return [target] if target is not None else []

    def set_source_expressions(self, exprs):
        if exprs:
            (self.target,) = exprs

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.target)
        if connection.vendor == "postgresql":
            sql = f"COALESCE(jsonb_typeof({column} -> %s), '') = %s"
            return sql, (*params, self.key, self.json_type)
        if connection.vendor == "sqlite":
            types = self._SQLITE_TYPES[self.json_type]
            marks = ", ".join(["%s"] * len(types))
            path = '$."{}"'.format(self.key.replace('"', '""'))
            return f"COALESCE(json_type({column}, %s), '') IN ({marks})", (*params, path, *types)
        raise NotImplementedError(f"segments do not support {connection.vendor}")

    def __repr__(self):
        return f"HasJSONType({self.column!r}, {self.key!r}, {self.json_type!r})"

    @property
    def identity(self):
        return (type(self), self.column, self.key, self.json_type)

    def __eq__(self, other):
        return isinstance(other, HasJSONType) and self.identity == other.identity

    def __hash__(self):
        return hash(self.identity)


def _all(parts) -> Q:
    return reduce(and_, parts)


def _any(parts) -> Q:
    return reduce(or_, parts)


class Compiler:
    """Compiles one organisation's trees; ``catalogue.today`` is the day dates are read on."""

    def __init__(self, organization, catalogue: Catalogue):
        self.organization = organization
        self.catalogue = catalogue

    def compile(self, rules: dict) -> Q:
        return self._group(rules, ())

    def _group(self, node: dict, path) -> Q:
        parts = []
        for index, child in enumerate(node["rules"], start=1):
            child_path = (*path, index)
            if is_group(child):
                parts.append(self._group(child, child_path))
            else:
                parts.append(self._condition(child, child_path))
        return _all(parts) if node["match"] == "all" else _any(parts)

    def _condition(self, condition: dict, path) -> Q:
        spec = self.catalogue.fields[condition["field"]]
        op, value = condition["op"], condition.get("value")
        kind = spec.kind
        if kind == Kind.ENGAGEMENT:
            return engagement.compile_condition(
                self.organization, condition, path, self.catalogue.today, spec.label
            )
        if kind == Kind.EMAIL:
            return self._email(op, value)
        if kind == Kind.DOMAIN:
            return self._domain(op, value)
        if kind == Kind.TEXT:
            return _text(F(spec.key), op, value, present=~Q(Exact(F(spec.key), "")))
        if kind == Kind.ENUM:
            positive = Q(**{f"{spec.key}__in": value})
            return positive if op == "in" else ~positive
        if kind == Kind.DATETIME:
            return self._datetime(F(spec.key), op, value)
        if kind == Kind.TAGS:
            return _related(Contact.tags.through.objects, "contact_id", "tag_id", op, value)
        if kind == Kind.LISTS:
            return _related(ListMembership.objects, "contact_id", "contact_list_id", op, value)
        return self._attribute(spec, op, value, path)

    # --- contact columns -----------------------------------------------------------------

    def _email(self, op, value) -> Q:
        if op in ("eq", "neq"):
            # lower(email) is what the unique index covers: an exact address is a lookup.
            positive = Q(Exact(Lower("email"), Lower(Value(value))))
            return positive if op == "eq" else ~positive
        return _text(F("email"), op, value, present=None)

    def _domain(self, op, value) -> Q:
        reversed_email = Reverse(Lower("email"))

        def ends_with(suffix: str) -> Q:
            return Q(StartsWith(reversed_email, suffix[::-1]))

        if op == "ends_with":
            return ends_with(value)
        domains = [value] if op in ("eq", "neq") else value
        positive = _any(ends_with("@" + domain) for domain in domains)
        return positive if op in ("eq", "in") else ~positive

    def _datetime(self, column, op, value) -> Q:
        start = self._start_of_day
        if op in ("within_last_days", "more_than_days_ago"):
            since = start(self.catalogue.today - datetime.timedelta(days=value))
            return (
                Q(GreaterThanOrEqual(column, since))
                if op == "within_last_days"
                else Q(LessThan(column, since))
            )
        if op == "between":
            low, high = (datetime.date.fromisoformat(v) for v in value)
            return Q(GreaterThanOrEqual(column, start(low))) & Q(
                LessThan(column, start(high, next_day=True))
            )
        day = datetime.date.fromisoformat(value)
        on_day = Q(GreaterThanOrEqual(column, start(day))) & Q(
            LessThan(column, start(day, next_day=True))
        )
        return {
            "eq": on_day,
            "neq": ~on_day,
            "lt": Q(LessThan(column, start(day))),
            "lte": Q(LessThan(column, start(day, next_day=True))),
            "gt": Q(GreaterThanOrEqual(column, start(day, next_day=True))),
            "gte": Q(GreaterThanOrEqual(column, start(day))),
        }[op]

    def _start_of_day(self, day: datetime.date, next_day: bool = False) -> datetime.datetime:
        if next_day:
            day += datetime.timedelta(days=1)
        return datetime.datetime.combine(day, datetime.time(), tzinfo=self.catalogue.time_zone)

    # --- custom attributes ----------------------------------------------------------------

    def _attribute(self, spec: Field, op: str, value, path) -> Q:
        key = spec.attribute_key
        text = KeyTextTransform(key, "attributes")
        kind = spec.kind

        def contains(item) -> Q:
            return Q(attributes__contains={key: item})

        if kind in (Kind.ATTR_TEXT, Kind.CHOICE):
            present = Q(HasJSONType("attributes", key, "string")) & ~Q(Exact(text, ""))
            if kind == Kind.ATTR_TEXT:
                return _text(text, op, value, present=present)
            if op in ("in", "not_in"):
                positive = _any(contains(item) for item in value)
                return positive if op == "in" else ~positive
            return present if op == "is_not_empty" else ~present
        if kind == Kind.BOOLEAN:
            present = Q(HasJSONType("attributes", key, "boolean"))
            return {
                "is_true": contains(True),
                "is_false": contains(False),
                "is_empty": ~present,
                "is_not_empty": present,
            }[op]
        if kind == Kind.NUMBER:
            present = Q(HasJSONType("attributes", key, "number"))
            number = Cast(Case(When(present, then=text)), _Numeric())
            return _compare(number, op, value, present, contains, Decimal, str)
        if kind == Kind.DATE:
            present = Q(HasJSONType("attributes", key, "string")) & Q(Regex(text, DATE_PATTERN))
            date = Cast(Case(When(present, then=text)), DateField())
            today = self.catalogue.today
            if op == "within_last_days":
                since = today - datetime.timedelta(days=value)
                return (
                    present & Q(GreaterThanOrEqual(date, since)) & Q(LessThanOrEqual(date, today))
                )
            if op == "more_than_days_ago":
                return present & Q(LessThan(date, today - datetime.timedelta(days=value)))
            return _compare(date, op, value, present, contains, datetime.date.fromisoformat, str)
        raise RuleError("unsupported field", path, field_label=spec.label)  # pragma: no cover


def _compare(expr, op, value, present: Q, contains, parse, to_json) -> Q:
    """Comparisons of a typed attribute. Equality is JSON containment (uses the GIN index);
    every comparison is ANDed with ``present`` so a missing value is FALSE, never NULL."""
    if op == "is_empty":
        return ~present
    if op == "is_not_empty":
        return present
    if op in ("eq", "neq"):
        positive = contains(value)
        return positive if op == "eq" else ~positive
    if op == "between":
        low, high = (parse(str(v)) for v in value)
        return present & Q(GreaterThanOrEqual(expr, low)) & Q(LessThanOrEqual(expr, high))
    lookup = {"lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan, "gte": GreaterThanOrEqual}
    return present & Q(lookup[op](expr, parse(str(value))))


def _text(expr, op, value, present: Q | None) -> Q:
    """Case-insensitive text operators. ``present``: the value exists and is not empty
    (``None``: always, as for the e-mail address)."""
    if op == "is_empty":
        return ~present
    if op == "is_not_empty":
        return present
    lookup = {
        "eq": IExact,
        "neq": IExact,
        "contains": IContains,
        "not_contains": IContains,
        "starts_with": IStartsWith,
        "ends_with": IEndsWith,
    }[op]
    positive = Q(lookup(expr, value))
    if present is not None:
        positive = present & positive
    return ~positive if op in ("neq", "not_contains") else positive


def _related(manager, contact_column: str, id_column: str, op: str, ids: list[int]) -> Q:
    def linked(selected) -> Exists:
        return Exists(
            manager.filter(**{contact_column: OuterRef("pk"), f"{id_column}__in": selected})
        )

    if op == "all":
        return _all(Q(linked([i])) for i in ids)
    positive = Q(linked(ids))
    return positive if op == "any" else ~positive
