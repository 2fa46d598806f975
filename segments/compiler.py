"""Rule trees to Django ORM filters over ``contacts.Contact``.

The input is a canonical tree (``segments.rules.validate_rules``); user values only ever
travel as query parameters. Two properties hold for every compiled condition, and the
property test checks them against a plain-Python evaluation:

- it is never SQL NULL: a condition on a missing attribute is FALSE, not unknown, so a
  negated condition, an "any" group or an excluded segment behaves as it reads;
- it never raises on stored data of the wrong type: an attribute is cast to
  ``numeric``/``date`` only inside a ``CASE`` that first checks its JSON type (for dates,
  the ``YYYY-MM-DD`` shape), so a value left over from a deleted field of another type
  counts as "no value". (A well-shaped impossible date, 2025-02-30, is reported by
  ``segments.services`` with a clear message.)

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
    Func,
    OuterRef,
    Q,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, Lower
from django.db.models.lookups import (
    EndsWith,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IEndsWith,
    IExact,
    In,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
    Range,
)

from contacts.models import Contact, ListMembership
from segments import engagement
from segments.rules import Catalogue, Field, Kind, RuleError, is_group


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


class EmailDomain(Func):
    """The lower-cased domain of the contact's address: what follows its "@" (addresses
    hold exactly one, see ``contacts.emails``). The same expression is indexed per
    organisation (segments/migrations/0003), so a domain or a list of domains is an
    index lookup with real statistics behind its estimate."""

    # Constants in the template (not parameters) so that the expression matches the index.
    template = "LOWER(SPLIT_PART(%(expressions)s, '@', 2))"
    output_field = TextField()

    def __init__(self):
        super().__init__(F("email"))

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "LOWER(SUBSTR(%(expressions)s, INSTR(%(expressions)s, '@') + 1))"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class IsDateShaped(HasJSONType):
    """TRUE when ``attributes ->> key`` has the shape ``YYYY-MM-DD`` in ASCII digits (never
    NULL). Guards the cast to ``date``; it checks the shape without a regular expression,
    which costs PostgreSQL several times more per contact. A well-shaped impossible day
    (2025-02-30) passes and makes the cast fail: ``segments.services`` reports that."""

    def __init__(self, column: str, key: str):
        super().__init__(column, key, "string")

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.target)
        if connection.vendor == "postgresql":
            value = f"({column} ->> %s)"
            sql = (
                f"COALESCE({value} LIKE '____-__-__' "
                f"AND translate({value}, '0123456789', '') = '--', false)"
            )
            return sql, (*params, self.key, *params, self.key)
        if connection.vendor == "sqlite":
            path = '$."{}"'.format(self.key.replace('"', '""'))
            sql = (
                f"COALESCE(json_extract({column}, %s) "
                "GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]', 0)"
            )
            return sql, (*params, path)
        raise NotImplementedError(f"segments do not support {connection.vendor}")


def _all(parts) -> Q:
    return reduce(and_, parts)


def _any(parts) -> Q:
    return reduce(or_, parts)


class Compiler:
    """Compiles one organisation's trees; ``catalogue.today`` is the day dates are read on."""

    def __init__(self, organization, catalogue: Catalogue, *, excluding: bool = False):
        self.organization = organization
        self.catalogue = catalogue
        # Whether the tree keeps people *out* (an excluded segment). It decides one thing:
        # how a list membership its member left from a message counts (see _lists).
        self.excluding = excluding

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
            return self._lists(op, value)
        return self._attribute(spec, op, value, path)

    def _lists(self, op: str, ids: list[int]) -> Q:
        """A list condition, where leaving a list never lets more mail through.

        Groups only combine with "all" and "any", so a condition that is true for more
        people makes the whole tree true for more people. A member who left a list
        through the preference page keeps the row (``unsubscribed_at``). In a tree that
        brings people in, the row counts so as to bring in fewer: "in" counts subscribed
        members only, "in none of" counts every row. In a tree that keeps people out
        (``excluding``), the other way round, so as to keep out more: "in" counts every
        row, "in none of" subscribed members only."""
        subscribed_only = (op != "none") != self.excluding
        memberships = ListMembership.objects.all()
        if subscribed_only:
            memberships = memberships.subscribed()
        return _related(memberships, "contact_id", "contact_list_id", op, ids)

    # --- contact columns -----------------------------------------------------------------

    def _email(self, op, value) -> Q:
        if op in ("eq", "neq"):
            # lower(email) is what the unique index covers: an exact address is a lookup.
            positive = Q(Exact(Lower("email"), Lower(Value(value))))
            return positive if op == "eq" else ~positive
        return _text(F("email"), op, value, present=None)

    def _domain(self, op, value) -> Q:
        domain = EmailDomain()
        if op == "ends_with":
            return Q(EndsWith(domain, value))
        if op in ("eq", "neq"):
            positive = Q(Exact(domain, value))
            return positive if op == "eq" else ~positive
        positive = Q(In(domain, value))
        return positive if op == "in" else ~positive

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
            is_string = Q(HasJSONType("attributes", key, "string"))
            present = is_string & ~Q(Exact(text, ""))
            if kind == Kind.ATTR_TEXT:
                string = Case(When(is_string, then=text), output_field=TextField())
                return _text(string, op, value, present=present, nullable=True)
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
            # jsonb -> numeric directly: no round trip through text for every contact.
            number = Cast(Case(When(present, then=KeyTransform(key, "attributes"))), _Numeric())
            return _compare(number, op, value, present, contains, Decimal)
        if kind == Kind.DATE:
            present = Q(IsDateShaped("attributes", key))
            date = Cast(Case(When(present, then=text)), DateField())
            today = self.catalogue.today
            if op == "within_last_days":
                return _date_range(text, date, today - datetime.timedelta(days=value), today)
            if op == "more_than_days_ago":
                return _holds(LessThan(date, today - datetime.timedelta(days=value)))
            if op == "between":
                low, high = (datetime.date.fromisoformat(v) for v in value)
                return _date_range(text, date, low, high)
            return _compare(date, op, value, present, contains, datetime.date.fromisoformat)
        raise RuleError("unsupported field", path, field_label=spec.label)  # pragma: no cover


def _holds(comparison) -> Q:
    """A comparison that is NULL for a contact without the value, as a filter that is
    FALSE instead. One typed value per comparison keeps the per-row work low, and the
    planner estimates it far better than separate "has a value" clauses."""
    return Q(Coalesce(comparison, Value(False), output_field=BooleanField()))


# A date range of up to this many days is compared as the list of its days.
ENUMERATED_DAYS = 400


def _date_range(text, date, low: datetime.date, high: datetime.date) -> Q:
    """A stored date between ``low`` and ``high`` (inclusive). A range of up to
    ``ENUMERATED_DAYS`` days is an ``IN`` over its days in ISO form: the stored values are
    compared with dates, each one exactly, without a cast (a quarter of the cost per
    contact, and nothing to fail on). A longer range casts (``date``)."""
    days = (high - low).days + 1
    if days <= ENUMERATED_DAYS:
        every_day = [(low + datetime.timedelta(days=n)).isoformat() for n in range(days)]
        return _holds(In(text, every_day))
    return _holds(Range(date, (low, high)))


def _compare(expr, op, value, present: Q, contains, parse) -> Q:
    """Comparisons of a typed attribute (``expr`` is NULL without a value). Equality is
    JSON containment, which the GIN index answers."""
    if op == "is_empty":
        return ~present
    if op == "is_not_empty":
        return present
    if op in ("eq", "neq"):
        positive = contains(value)
        return positive if op == "eq" else ~positive
    if op == "between":
        low, high = (parse(str(v)) for v in value)
        return _holds(Range(expr, (low, high)))
    lookup = {"lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan, "gte": GreaterThanOrEqual}
    return _holds(lookup[op](expr, parse(str(value))))


def _text(expr, op, value, present: Q | None, nullable: bool = False) -> Q:
    """Case-insensitive text operators. ``present``: the value exists and is not empty
    (``None``: always, as for the e-mail address); ``nullable``: ``expr`` is NULL for a
    contact without the value."""
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
    }[op](expr, value)
    positive = _holds(lookup) if nullable else Q(lookup)
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
