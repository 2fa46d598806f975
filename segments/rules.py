"""The rule schema of a segment: what a rule tree may say, and how it is checked.

A rule tree is JSON. A *group* combines its rules with ``all`` (AND) or ``any`` (OR);
a *condition* compares one field of a contact::

    {"match": "all", "rules": [
        {"field": "tags", "op": "any", "value": [3, 8]},
        {"match": "any", "rules": [
            {"field": "attr:plan", "op": "in", "value": ["gold", "silver"]},
            {"field": "created_at", "op": "within_last_days", "value": 30}
        ]}
    ]}

``check_rules`` validates a tree against a ``Catalogue`` (the fields, tags and lists that
exist in the organisation) and returns its canonical form: values parsed to their JSON
type (numbers as numbers, dates as ``YYYY-MM-DD``, ids as integers, domains lower-cased
and IDNA-encoded), unknown keys refused. Every refusal is a ``RuleError`` whose message
names the condition ("Condition 2.1 (Score): ...") and says why; ``path`` holds the same
position as 1-based indexes for the builder to point at.

Semantics shared by the compiler (``segments.compiler``) and the reference evaluator of
the tests (``tests/segments/reference.py``), written down in ``docs/segments.md``:

- text comparisons ignore case; ``eq`` on text means the whole value;
- a custom attribute *has a value* when it holds the JSON type of its field (a string
  for text and choice, non-empty; a number; a ``YYYY-MM-DD`` string for a date; true or
  false). A value of another type (left over from a deleted field) counts as no value;
- positive operators never match a contact without a value; the negative ones
  (``neq``, ``not_contains``, ``not_in``, ``none``) do;
- dates are compared as dates in the organisation's time zone ("today" is its today).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from contacts.attributes import InvalidValue, parse_value
from contacts.enums import ConsentMethod, ContactStatus, FieldType

# Limits that keep a rule tree readable and its query bounded.
MAX_DEPTH = 4  # the top-level group plus three levels of nested groups
MAX_CONDITIONS = 50
MAX_VALUES = 200  # items of an "any of" list
MAX_TEXT = 200
MAX_DAYS = 36_500

ATTRIBUTE_PREFIX = "attr:"
# A date in a rule. The lookahead refuses year 0000, which PostgreSQL cannot store.
DATE_RE = re.compile(r"^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
# What a stored value of a date attribute must look like to count as a date
# (the compiler's ``IsDateShaped``).
STORED_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Kind:
    """What sort of value a field holds; decides its operators and value input."""

    EMAIL = "email"
    DOMAIN = "domain"
    TEXT = "text"  # a contact column: "" when empty, never NULL
    ATTR_TEXT = "attr_text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"  # created_at: compared by its date in the organisation's zone
    BOOLEAN = "boolean"
    CHOICE = "choice"  # a choice attribute
    ENUM = "enum"  # status, consent method: always set
    TAGS = "tags"
    LISTS = "lists"
    ENGAGEMENT = "engagement"


# How many values an operator takes.
NONE, ONE, TWO, DAYS, MANY, ENGAGEMENT = "none", "one", "two", "days", "many", "engagement"

OPERATOR_ARITY = {
    "eq": ONE,
    "neq": ONE,
    "contains": ONE,
    "not_contains": ONE,
    "starts_with": ONE,
    "ends_with": ONE,
    "is_empty": NONE,
    "is_not_empty": NONE,
    "lt": ONE,
    "lte": ONE,
    "gt": ONE,
    "gte": ONE,
    "between": TWO,
    "within_last_days": DAYS,
    "more_than_days_ago": DAYS,
    "is_true": NONE,
    "is_false": NONE,
    "in": MANY,
    "not_in": MANY,
    "any": MANY,
    "all": MANY,
    "none": MANY,
    "received": ENGAGEMENT,
    "opened": ENGAGEMENT,
    "clicked": ENGAGEMENT,
    "never_opened": ENGAGEMENT,
}

_COMPARE = ("eq", "neq", "lt", "lte", "gt", "gte", "between")
_TEXT = ("eq", "neq", "contains", "not_contains", "starts_with")
_EMPTY = ("is_empty", "is_not_empty")

OPERATORS: dict[str, tuple[str, ...]] = {
    Kind.EMAIL: (*_TEXT, "ends_with"),
    Kind.DOMAIN: ("eq", "neq", "in", "not_in", "ends_with"),
    Kind.TEXT: (*_TEXT, *_EMPTY),
    Kind.ATTR_TEXT: (*_TEXT, *_EMPTY),
    Kind.NUMBER: (*_COMPARE, *_EMPTY),
    Kind.DATE: (*_COMPARE, "within_last_days", "more_than_days_ago", *_EMPTY),
    Kind.DATETIME: (*_COMPARE, "within_last_days", "more_than_days_ago"),
    Kind.BOOLEAN: ("is_true", "is_false", *_EMPTY),
    Kind.CHOICE: ("in", "not_in", *_EMPTY),
    Kind.ENUM: ("in", "not_in"),
    Kind.TAGS: ("any", "all", "none"),
    Kind.LISTS: ("any", "all", "none"),
    Kind.ENGAGEMENT: ("received", "opened", "clicked", "never_opened"),
}

_OPERATOR_LABELS = {
    "eq": gettext_lazy("is"),
    "neq": gettext_lazy("is not"),
    "contains": gettext_lazy("contains"),
    "not_contains": gettext_lazy("does not contain"),
    "starts_with": gettext_lazy("starts with"),
    "ends_with": gettext_lazy("ends with"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
    "lt": gettext_lazy("is less than"),
    "lte": gettext_lazy("is at most"),
    "gt": gettext_lazy("is greater than"),
    "gte": gettext_lazy("is at least"),
    "between": gettext_lazy("is between"),
    "within_last_days": gettext_lazy("is within the last … days"),
    "more_than_days_ago": gettext_lazy("is more than … days ago"),
    "is_true": gettext_lazy("is yes"),
    "is_false": gettext_lazy("is no"),
    "in": gettext_lazy("is any of"),
    "not_in": gettext_lazy("is none of"),
    "any": gettext_lazy("has any of"),
    "all": gettext_lazy("has all of"),
    "none": gettext_lazy("has none of"),
    "received": gettext_lazy("received"),
    "opened": gettext_lazy("opened"),
    "clicked": gettext_lazy("clicked a link in"),
    "never_opened": gettext_lazy("never opened"),
}
_DATE_LABELS = {
    "eq": gettext_lazy("is on"),
    "neq": gettext_lazy("is not on"),
    "lt": gettext_lazy("is before"),
    "lte": gettext_lazy("is on or before"),
    "gt": gettext_lazy("is after"),
    "gte": gettext_lazy("is on or after"),
}
_LIST_LABELS = {
    "any": gettext_lazy("is in any of"),
    "all": gettext_lazy("is in all of"),
    "none": gettext_lazy("is in none of"),
}


def operator_label(kind: str, op: str) -> str:
    if kind in (Kind.DATE, Kind.DATETIME) and op in _DATE_LABELS:
        return str(_DATE_LABELS[op])
    if kind == Kind.LISTS and op in _LIST_LABELS:
        return str(_LIST_LABELS[op])
    return str(_OPERATOR_LABELS[op])


@dataclass(frozen=True)
class Field:
    """One field a condition can test."""

    key: str
    label: str
    kind: str
    section: str
    choices: tuple[tuple[Any, str], ...] = ()

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS[self.kind]

    @property
    def attribute_key(self) -> str | None:
        return self.key[len(ATTRIBUTE_PREFIX) :] if self.key.startswith(ATTRIBUTE_PREFIX) else None


_ATTRIBUTE_KINDS = {
    FieldType.TEXT: Kind.ATTR_TEXT,
    FieldType.NUMBER: Kind.NUMBER,
    FieldType.DATE: Kind.DATE,
    FieldType.BOOLEAN: Kind.BOOLEAN,
    FieldType.CHOICE: Kind.CHOICE,
}


def builtin_fields() -> list[Field]:
    contact = _("Contact")
    consent = _("Consent")
    membership = _("Lists and tags")
    return [
        Field("email", _("E-mail address"), Kind.EMAIL, contact),
        Field("email_domain", _("E-mail domain"), Kind.DOMAIN, contact),
        Field("last_name", _("Last name"), Kind.TEXT, contact),
        Field("first_name", _("First name"), Kind.TEXT, contact),
        Field("company", _("Company"), Kind.TEXT, contact),
        Field("status", _("Status"), Kind.ENUM, contact, tuple(ContactStatus.choices)),
        Field("created_at", _("Added on"), Kind.DATETIME, contact),
        Field(
            "consent_method", _("Consent obtained through"), Kind.ENUM, consent,
            tuple(ConsentMethod.choices),
        ),
        Field("tags", _("Tags"), Kind.TAGS, membership),
        Field("lists", _("Lists"), Kind.LISTS, membership),
        Field("engagement", _("Engagement"), Kind.ENGAGEMENT, _("Engagement")),
    ]  # fmt: skip


def attribute_field(key: str, label: str, field_type: str, choices: Iterable[str] = ()) -> Field:
    kind = _ATTRIBUTE_KINDS[field_type]
    options = tuple((c, c) for c in choices) if kind == Kind.CHOICE else ()
    return Field(f"{ATTRIBUTE_PREFIX}{key}", label, kind, _("Custom fields"), options)


@dataclass
class Catalogue:
    """What a rule tree may refer to in one organisation, and the date rules are read on.

    ``tags`` and ``lists`` map ids to names; ``lists`` holds only the lists the person
    building the segment may see when it was built for a person.
    """

    fields: dict[str, Field]
    tags: Mapping[int, str] = field(default_factory=dict)
    lists: Mapping[int, str] = field(default_factory=dict)
    today: datetime.date = field(default_factory=datetime.date.today)
    time_zone: datetime.tzinfo = datetime.UTC

    @classmethod
    def build(cls, custom_fields=(), tags=None, lists=None, **kwargs) -> Catalogue:
        """``custom_fields``: objects with ``key``, ``label``, ``field_type``, ``choices``."""
        fields = {f.key: f for f in builtin_fields()}
        for custom in custom_fields:
            if custom.field_type in _ATTRIBUTE_KINDS:
                f = attribute_field(custom.key, custom.label, custom.field_type, custom.choices)
                fields[f.key] = f
        return cls(fields=fields, tags=tags or {}, lists=lists or {}, **kwargs)

    def sections(self) -> list[tuple[str, list[Field]]]:
        grouped: dict[str, list[Field]] = {}
        for f in self.fields.values():
            grouped.setdefault(f.section, []).append(f)
        return list(grouped.items())


# --- Errors ---------------------------------------------------------------------------


def describe_path(path: tuple[int, ...]) -> str:
    return ".".join(str(index) for index in path)


class RuleError(ValueError):
    """A rule tree that cannot be used. ``str()`` names the place and says why.

    ``path`` is the position (1-based indexes from the top-level group; ``()`` is the tree
    itself); ``reason`` is the why alone; ``errors`` lists every problem found, this one
    first.
    """

    def __init__(
        self,
        reason: str,
        path: tuple[int, ...] = (),
        *,
        is_group: bool = False,
        field_label: str = "",
        errors: list[RuleError] | None = None,
    ):
        self.reason = reason
        self.path = tuple(path)
        self.is_group = is_group
        self.field_label = field_label
        self.errors = errors if errors is not None else [self]
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = describe_path(self.path)
        if not self.path:
            return _("Rules: %(reason)s") % {"reason": self.reason}
        if self.is_group:
            return _("Group %(path)s: %(reason)s") % {"path": where, "reason": self.reason}
        if self.field_label:
            return _("Condition %(path)s (%(field)s): %(reason)s") % {
                "path": where,
                "field": self.field_label,
                "reason": self.reason,
            }
        return _("Condition %(path)s: %(reason)s") % {"path": where, "reason": self.reason}

    def __str__(self) -> str:
        return self.message


# --- Validation -------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def is_group(node) -> bool:
    return isinstance(node, Mapping) and "match" in node


def check_rules(rules, catalogue: Catalogue) -> tuple[dict | None, list[RuleError]]:
    """``(canonical tree, [])`` for a valid tree, or ``(None, errors)``."""
    errors: list[RuleError] = []
    counter = [0]
    canonical = _check_group(rules, (), catalogue, errors, counter, depth=1)
    if counter[0] > MAX_CONDITIONS and not errors:
        errors.append(
            RuleError(
                _("a segment may have at most %(max)s conditions; it has %(count)s.")
                % {"max": MAX_CONDITIONS, "count": counter[0]}
            )
        )
    return (None, errors) if errors else (canonical, [])


def validate_rules(rules, catalogue: Catalogue) -> dict:
    """The canonical tree, or raise ``RuleError`` (the first problem; ``.errors`` all)."""
    canonical, errors = check_rules(rules, catalogue)
    if errors:
        first = errors[0]
        raise RuleError(
            first.reason,
            first.path,
            is_group=first.is_group,
            field_label=first.field_label,
            errors=errors,
        )
    return canonical


def _check_group(node, path, catalogue, errors, counter, depth) -> dict | None:
    def refuse(reason):
        errors.append(RuleError(reason, path, is_group=bool(path)))
        return None

    if not isinstance(node, Mapping):
        return refuse(_("expected a group of conditions."))
    unknown = sorted(set(node) - {"match", "rules"})
    if unknown:
        return refuse(_("unexpected “%(key)s”.") % {"key": unknown[0]})
    match = node.get("match")
    if match not in ("all", "any"):
        return refuse(_("choose whether all or any of the conditions must match."))
    children = node.get("rules")
    if not isinstance(children, list):
        return refuse(_("expected a list of conditions."))
    if not children:
        return refuse(_("add at least one condition."))
    if depth > MAX_DEPTH:
        return refuse(_("groups may be nested at most %(max)s deep.") % {"max": MAX_DEPTH - 1})
    out = []
    for index, child in enumerate(children, start=1):
        child_path = (*path, index)
        if is_group(child):
            out.append(_check_group(child, child_path, catalogue, errors, counter, depth + 1))
        else:
            counter[0] += 1
            out.append(_check_condition(child, child_path, catalogue, errors))
    return {"match": match, "rules": out}


def _check_condition(node, path, catalogue: Catalogue, errors) -> dict | None:
    if not isinstance(node, Mapping):
        errors.append(RuleError(_("expected a condition or a group."), path))
        return None
    key = node.get("field")
    spec = catalogue.fields.get(key) if isinstance(key, str) else None
    try:
        unknown = sorted(set(node) - {"field", "op", "value"})
        if unknown:
            raise _Refused(_("unexpected “%(key)s”.") % {"key": unknown[0]})
        if not key:
            raise _Refused(_("choose a field."))
        if spec is None:
            raise _Refused(_("unknown field “%(field)s”.") % {"field": key})
        op = node.get("op")
        if not op:
            raise _Refused(_("choose an operator."))
        if op not in spec.operators:
            raise _Refused(
                _("the operator “%(op)s” does not apply to this field (use one of: %(ops)s).")
                % {"op": op, "ops": ", ".join(spec.operators)}
            )
        value = _check_value(spec, op, node.get("value"), catalogue)
    except _Refused as refused:
        errors.append(RuleError(refused.reason, path, field_label=spec.label if spec else ""))
        return None
    condition = {"field": key, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


def _check_value(spec: Field, op: str, value, catalogue: Catalogue):
    arity = OPERATOR_ARITY[op]
    if arity == NONE:
        if value not in (None, "", []):
            raise _Refused(_("this operator takes no value."))
        return None
    if arity == ENGAGEMENT:
        return _engagement_value(op, value)
    if value is None or value == "" or value == []:
        raise _Refused(_("enter a value.") if arity != MANY else _("choose at least one value."))
    if arity == DAYS:
        return _days(value)
    if arity == TWO:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise _Refused(_("enter a lower and an upper bound."))
        low, high = (_scalar(spec, v) for v in value)
        if _ordered(spec, low) > _ordered(spec, high):
            raise _Refused(_("the lower bound is greater than the upper bound."))
        return [low, high]
    if arity == MANY:
        return _many(spec, value, catalogue)
    return _scalar(spec, value, suffix=op == "ends_with")


def _ordered(spec: Field, value):
    return Decimal(str(value)) if spec.kind == Kind.NUMBER else value


def _scalar(spec: Field, value, *, suffix: bool = False):
    kind = spec.kind
    if kind in (Kind.EMAIL, Kind.TEXT, Kind.ATTR_TEXT):
        return _text(value)
    if kind == Kind.DOMAIN:
        return _domain(value, suffix=suffix)
    if kind == Kind.NUMBER:
        return _number(value)
    if kind in (Kind.DATE, Kind.DATETIME):
        return _date(value)
    raise _Refused(_("this field takes no single value."))  # pragma: no cover - by OPERATORS


def _text(value) -> str:
    if not isinstance(value, str):
        raise _Refused(_("expected text."))
    value = value.strip()
    if not value:
        raise _Refused(_("enter a value."))
    if len(value) > MAX_TEXT:
        raise _Refused(_("longer than %(max)s characters.") % {"max": MAX_TEXT})
    return value


_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _domain(value, *, suffix: bool = False) -> str:
    """A domain, lower-cased and IDNA-encoded. ``suffix``: the end of a domain, which may
    start with a dot (``.co.jp``)."""
    text = _text(value).lower().lstrip("@").rstrip(".")
    if suffix and text.startswith("."):
        return "." + _domain(text[1:])
    try:
        ascii_domain = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise _Refused(_("“%(value)s” is not a domain.") % {"value": text}) from None
    labels = ascii_domain.split(".")
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels if label) or "" in labels[1:]:
        raise _Refused(_("“%(value)s” is not a domain.") % {"value": text})
    return ascii_domain


def _number(value):
    if isinstance(value, bool):
        raise _Refused(_("expected a number."))
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _Refused(_("expected a number."))
        return value
    if isinstance(value, str):
        try:
            return parse_value(FieldType.NUMBER, value)
        except InvalidValue:
            raise _Refused(
                _("“%(value)s” is not a number.") % {"value": value.strip()[:MAX_TEXT]}
            ) from None
    raise _Refused(_("expected a number."))


def _date(value) -> str:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        raise _Refused(_("expected a date (YYYY-MM-DD)."))
    try:
        parsed = parse_value(FieldType.DATE, value)
    except InvalidValue:
        parsed = None
    if parsed is None or not DATE_RE.match(parsed):
        raise _Refused(
            _("“%(value)s” is not a date (use YYYY-MM-DD).") % {"value": value.strip()[:MAX_TEXT]}
        )
    return parsed


def _days(value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(_("expected a whole number of days."))
    if not 0 <= value <= MAX_DAYS:
        raise _Refused(_("the number of days must be between 0 and %(max)s.") % {"max": MAX_DAYS})
    return value


def _ids(value) -> list[int]:
    ids = []
    for item in value:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if isinstance(item, bool) or not isinstance(item, int):
            raise _Refused(_("expected a list of ids."))
        ids.append(item)
    return ids


def _many(spec: Field, value, catalogue: Catalogue) -> list:
    if isinstance(value, str | int):
        value = [value]
    if not isinstance(value, list | tuple):
        raise _Refused(_("expected a list of values."))
    if len(value) > MAX_VALUES:
        raise _Refused(_("at most %(max)s values.") % {"max": MAX_VALUES})
    kind = spec.kind
    if kind in (Kind.CHOICE, Kind.ENUM):
        allowed = [choice for choice, _label in spec.choices]
        for item in value:
            if item not in allowed:
                raise _Refused(
                    _("“%(value)s” is not one of the choices (%(choices)s).")
                    % {"value": item, "choices": ", ".join(str(c) for c in allowed)}
                )
        chosen = set(value)
        return [c for c in allowed if c in chosen]  # in the field's own order
    if kind == Kind.DOMAIN:
        return sorted({_domain(item) for item in value})
    if kind == Kind.TAGS:
        ids = sorted(set(_ids(value)))
        if any(i not in catalogue.tags for i in ids):
            raise _Refused(_("a chosen tag no longer exists."))
        return ids
    if kind == Kind.LISTS:
        ids = sorted(set(_ids(value)))
        if any(i not in catalogue.lists for i in ids):
            raise _Refused(_("a chosen list no longer exists or is not visible to you."))
        return ids
    raise _Refused(_("this field takes no list of values."))  # pragma: no cover


def _engagement_value(op: str, value) -> dict:
    if value in (None, ""):
        value = {}
    if not isinstance(value, Mapping):
        raise _Refused(_("expected a campaign and/or a number of days."))
    unknown = sorted(set(value) - {"campaign", "days"})
    if unknown:
        raise _Refused(_("unexpected “%(key)s”.") % {"key": unknown[0]})
    campaign = value.get("campaign")
    if campaign in ("", None):
        campaign = None
    else:
        (campaign,) = _ids([campaign])
    days = value.get("days")
    days = None if days in ("", None) else _days(days)
    if op != "never_opened" and campaign is None and days is None:
        raise _Refused(_("choose a campaign, or a number of days for any campaign."))
    return {"campaign": campaign, "days": days}


# --- Reading a tree ---------------------------------------------------------------------


def iter_conditions(rules, path: tuple[int, ...] = ()):
    """``(path, condition)`` for every condition of a (valid) tree, in order."""
    for index, child in enumerate(rules.get("rules", []), start=1):
        if is_group(child):
            yield from iter_conditions(child, (*path, index))
        else:
            yield (*path, index), child
