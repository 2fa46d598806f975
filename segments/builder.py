"""The rule builder's form: a rule tree as flat form fields, and back.

Every node of the tree has an id that is its position, ``n`` for the top-level group and
``n_2_1`` for the first rule of its second child. The page posts one hidden ``node``
input per node in document order (``g:n``, ``c:n_1``, ``g:n_2``, ...) and the node's own
fields (``n_1-field``, ``n_1-op``, ``n_1-value``, ``n_2-match``). ``draft_from_post``
rebuilds the *draft* tree (a rule tree whose values may still be incomplete or wrong);
``check_rules`` says what is wrong with it, and ``view_tree`` turns it into what the
templates render, with each problem next to its condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.http import QueryDict
from django.utils.translation import gettext as _

from segments.rules import (
    DAYS,
    ENGAGEMENT,
    MANY,
    MAX_CONDITIONS,
    MAX_DEPTH,
    NONE,
    ONE,
    OPERATOR_ARITY,
    TWO,
    Catalogue,
    Field,
    Kind,
    RuleError,
    describe_path,
    is_group,
    operator_label,
)

ROOT = "n"
_NODE_ID = re.compile(rf"n(?:_[0-9]{{1,3}}){{0,{MAX_DEPTH}}}")
# Bounds the work one request can ask for, whatever is posted.
MAX_NODES = 2 * MAX_CONDITIONS


def node_id(path: tuple[int, ...]) -> str:
    return "_".join([ROOT, *map(str, path)])


def empty_condition() -> dict:
    return {"field": "", "op": "", "value": None}


def new_draft() -> dict:
    return {"match": "all", "rules": [empty_condition()]}


# --- From the posted form ---------------------------------------------------------------


def draft_from_post(data: QueryDict, catalogue: Catalogue) -> dict:
    """The draft tree the page shows, read from its form fields. Unknown ids are ignored."""
    nodes: dict[str, dict] = {}
    root = None
    for entry in data.getlist("node")[:MAX_NODES]:
        kind, _sep, nid = entry.partition(":")
        if not _NODE_ID.fullmatch(nid) or nid in nodes:
            continue
        if kind == "g":
            match = data.get(f"{nid}-match")
            node = {"match": match if match in ("all", "any") else "all", "rules": []}
        elif kind == "c":
            node = _condition_from_post(data, nid, catalogue)
        else:
            continue
        if nid == ROOT:
            if kind == "g":
                root = node
        else:
            parent = nodes.get(nid.rsplit("_", 1)[0])
            if parent is None or not is_group(parent):
                continue
            parent["rules"].append(node)
        nodes[nid] = node
    return root if root is not None else {"match": "all", "rules": []}


def _split_domains(text: str) -> list[str]:
    # Commas (also the Japanese 、 and the full-width U+FF0C), semicolons or spaces.
    return [part for part in re.split(r"[\s,、\uff0c;]+", text) if part]


def _condition_from_post(data: QueryDict, nid: str, catalogue: Catalogue) -> dict:
    key = data.get(f"{nid}-field", "")
    spec = catalogue.fields.get(key)
    if spec is None:
        return {"field": key, "op": "", "value": None}
    op = data.get(f"{nid}-op", "")
    kind_changed = data.get(f"{nid}-kind", "") != spec.kind
    if op not in spec.operators:
        op = spec.operators[0]
    condition = {"field": key, "op": op, "value": None}
    if kind_changed:
        return condition  # another field was chosen: its old value means nothing here
    arity = OPERATOR_ARITY[op]

    def get(name):
        return data.get(f"{nid}-{name}", "")

    if arity in (ONE, DAYS):
        condition["value"] = get("value")
    elif arity == TWO:
        condition["value"] = [get("value"), get("value2")]
    elif arity == MANY:
        if spec.kind == Kind.DOMAIN:
            condition["value"] = _split_domains(get("value"))
        else:
            condition["value"] = data.getlist(f"{nid}-value")[: MAX_NODES * 2]
    elif arity == ENGAGEMENT:
        condition["value"] = {"campaign": get("campaign") or None, "days": get("days") or None}
    return condition


def apply_action(draft: dict, action: str) -> dict:
    """``add-condition:<group>``, ``add-group:<group>``, ``remove:<node>``; anything else
    changes nothing."""
    verb, _sep, target = action.partition(":")
    if not _NODE_ID.fullmatch(target):
        return draft
    path = tuple(int(part) for part in target.split("_")[1:])
    parent, node = None, draft
    for index in path:
        if not is_group(node) or not 1 <= index <= len(node["rules"]):
            return draft
        parent, node = node, node["rules"][index - 1]
    if verb == "remove" and parent is not None:
        parent["rules"].remove(node)
    elif verb == "add-condition" and is_group(node):
        node["rules"].append(empty_condition())
    elif verb == "add-group" and is_group(node) and len(path) + 1 < MAX_DEPTH:
        # A nested group usually says the opposite of its parent: all of (A, any of (B, C)).
        match = "any" if node["match"] == "all" else "all"
        node["rules"].append({"match": match, "rules": [empty_condition()]})
    return draft


# --- To the page ------------------------------------------------------------------------


@dataclass
class ConditionView:
    id: str
    label: str
    field: str
    spec: Field | None
    op: str = ""
    operators: list[tuple[str, str]] = field(default_factory=list)
    arity: str = NONE
    value: str = ""
    value2: str = ""
    options: list[tuple[str, str, bool]] = field(default_factory=list)
    input_type: str = "text"
    campaign: str = ""
    campaign_choices: list[tuple[int, str]] = field(default_factory=list)
    days: str = ""
    errors: list[str] = field(default_factory=list)
    is_group: bool = False

    @property
    def kind(self) -> str:
        return self.spec.kind if self.spec else ""


@dataclass
class GroupView:
    id: str
    label: str
    match: str
    depth: int
    children: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    is_group: bool = True

    @property
    def is_root(self) -> bool:
        return self.id == ROOT

    @property
    def can_nest(self) -> bool:
        return self.depth < MAX_DEPTH

    def walk(self):
        """This group and every node under it, in document order."""
        yield self
        for child in self.children:
            if child.is_group:
                yield from child.walk()
            else:
                yield child


def _text(value) -> str:
    return "" if value is None else str(value)


def view_tree(
    draft: dict,
    catalogue: Catalogue,
    errors: list[RuleError],
    campaign_choices: list[tuple[int, str]] = (),
) -> GroupView:
    by_path: dict[tuple[int, ...], list[str]] = {}
    for error in errors:
        by_path.setdefault(error.path, []).append(error.reason)

    def group(node, path, depth) -> GroupView:
        view = GroupView(
            id=node_id(path),
            label=describe_path(path),
            match=node.get("match", "all"),
            depth=depth,
            errors=by_path.get(path, []),
        )
        for index, child in enumerate(node.get("rules", []), start=1):
            child_path = (*path, index)
            if is_group(child):
                view.children.append(group(child, child_path, depth + 1))
            else:
                view.children.append(condition(child, child_path))
        return view

    def condition(node, path) -> ConditionView:
        key = node.get("field", "")
        spec = catalogue.fields.get(key)
        view = ConditionView(
            id=node_id(path),
            label=describe_path(path),
            field=key,
            spec=spec,
            errors=by_path.get(path, []),
        )
        if spec is None:
            return view
        op = node.get("op") if node.get("op") in spec.operators else spec.operators[0]
        view.op = op
        view.operators = [(o, operator_label(spec.kind, o)) for o in spec.operators]
        view.arity = OPERATOR_ARITY[op]
        value = node.get("value")
        if spec.kind in (Kind.DATE, Kind.DATETIME) and view.arity in (ONE, TWO):
            view.input_type = "date"
        if view.arity in (ONE, DAYS):
            view.value = _text(value)
            if view.arity == DAYS:
                view.input_type = "number"
        elif view.arity == TWO:
            low, high = [*value, "", ""][:2] if isinstance(value, list) else ("", "")
            view.value, view.value2 = _text(low), _text(high)
        elif view.arity == MANY:
            chosen = {str(v) for v in value} if isinstance(value, list) else set()
            if spec.kind == Kind.DOMAIN:
                view.value = ", ".join(str(v) for v in value) if isinstance(value, list) else ""
            else:
                view.options = [
                    (str(v), label, str(v) in chosen) for v, label in _options(spec, catalogue)
                ]
        elif view.arity == ENGAGEMENT:
            value = value if isinstance(value, dict) else {}
            view.campaign = _text(value.get("campaign"))
            view.days = _text(value.get("days"))
            view.campaign_choices = list(campaign_choices)
        return view

    return group(draft, (), 1)


def _options(spec: Field, catalogue: Catalogue) -> list[tuple[object, str]]:
    if spec.kind == Kind.TAGS:
        return sorted(catalogue.tags.items(), key=lambda item: item[1])
    if spec.kind == Kind.LISTS:
        return sorted(catalogue.lists.items(), key=lambda item: item[1])
    return [(value, str(label)) for value, label in spec.choices]


# --- In words (the read-only page) ------------------------------------------------------


def describe(rules: dict, catalogue: Catalogue) -> dict:
    """A stored tree as sentences: ``{"match": ..., "items": [str | dict, ...]}``."""
    items = []
    for child in rules.get("rules", []):
        if is_group(child):
            items.append(describe(child, catalogue))
        else:
            items.append(_sentence(child, catalogue))
    return {"match": rules.get("match", "all"), "items": items}


def _sentence(condition: dict, catalogue: Catalogue) -> str:
    spec = catalogue.fields.get(condition.get("field"))
    if spec is None:
        return _("(a field that no longer exists)")
    op = condition.get("op", "")
    value = condition.get("value")
    words = [str(spec.label), operator_label(spec.kind, op) if op in spec.operators else op]
    arity = OPERATOR_ARITY.get(op, NONE)
    if arity == ONE:
        words.append(f"“{value}”")
    elif arity == DAYS:
        words[-1] = words[-1].replace("…", str(value))
    elif arity == TWO:
        words.append(_("%(low)s and %(high)s") % {"low": value[0], "high": value[1]})
    elif arity == MANY:
        if spec.kind == Kind.DOMAIN:
            shown = [f"“{v}”" for v in value]
        else:
            names = dict(_options(spec, catalogue))
            unseen = _("(a list you cannot see)") if spec.kind == Kind.LISTS else _("(deleted)")
            shown = [f"“{names[v]}”" if v in names else unseen for v in value]
        words.append(", ".join(shown))
    elif arity == ENGAGEMENT:
        value = value or {}
        if value.get("campaign"):
            words.append(_("campaign %(id)s") % {"id": value["campaign"]})
        elif op != "never_opened":
            words.append(_("any campaign"))
        if value.get("days"):
            words.append(_("in the last %(days)s days") % {"days": value["days"]})
    return " ".join(words)
