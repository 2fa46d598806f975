"""Personalisation: Jinja2's ``ImmutableSandboxedEnvironment`` with a small, checked
vocabulary.

What a template may use (checked when it is saved, with the line of each problem):

- the names ``contact`` (``email``, ``last_name``, ``first_name``, ``company``, ``phone``,
  ``attributes.<key>``), ``sender`` (``name``, ``postal_address``,
  ``complaints_contact``), ``unsubscribe_url`` and ``footer`` (the organisation's
  required footer); ``content`` in layouts;
- ``if`` / ``for`` / ``set``, and the filters in ``ALLOWED_FILTERS``.

What it may not, refused at save: names starting with ``_`` in any attribute or item
(``''.__class__``, ``x['__globals__']``), any call (``cycler.__init__()``,
``contact.email.format(...)``), ``include`` / ``import`` / ``extends`` / ``macro``, unknown
names and filters (``safe`` among them: contact data must stay escaped). The sandbox
stays in place at render time as the second line: the environment has no globals, no
loader, and refuses unsafe attributes and large ``*`` / ``**`` results.

Contact data is passed as plain data (``plain_data``) and never compiled, so a contact
called ``{{ 7*7 }}`` is greeted as ``{{ 7*7 }}``.
"""

from __future__ import annotations

import datetime
import decimal
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _
from jinja2 import TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

CONTACT_FIELDS = frozenset(
    {"email", "last_name", "first_name", "company", "phone", "display_name", "attributes"}
)
SENDER_FIELDS = frozenset({"name", "postal_address", "complaints_contact"})
BODY_NAMES = frozenset({"contact", "sender", "unsubscribe_url", "footer"})
LAYOUT_NAMES = BODY_NAMES | {"content"}
ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "center",
        "count",
        "d",
        "default",
        "e",
        "escape",
        "first",
        "float",
        "indent",
        "int",
        "join",
        "last",
        "length",
        "lower",
        "replace",
        "round",
        "striptags",
        "string",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "wordwrap",
    }
)
_REFUSED_NODES = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Block: "block",
}
MAX_OUTPUT = 2_000_000  # characters; far beyond any real e-mail
MAX_PRODUCT = 100_000  # length of a repeated string or list, size of a power


class TemplateProblem(ValueError):
    """A template the sandbox refuses or cannot compile; ``line`` is 1-based (or None)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.line:
            return _("Line %(line)s: %(message)s") % {"line": self.line, "message": self.message}
        return self.message


class RenderError(ValueError):
    """A template failed while rendering for one recipient (bad data, refused operation)."""


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large")
        elif operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_PRODUCT
                ):
                    raise SecurityError("result too large")
        return super().call_binop(context, operator, left, right)


def _finalize(value):
    return "" if value is None else value


def _environment(autoescape: bool) -> _Sandbox:
    env = _Sandbox(
        autoescape=autoescape,
        undefined=Undefined,
        finalize=_finalize,
        loader=None,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    return env


HTML_ENV = _environment(autoescape=True)
TEXT_ENV = _environment(autoescape=False)


def _env(html: bool) -> _Sandbox:
    return HTML_ENV if html else TEXT_ENV


# --- Checking at save -------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    names: frozenset[str] = BODY_NAMES
    attribute_keys: frozenset[str] | None = None  # None: any custom field key accepted


def _is_private(name) -> bool:
    return isinstance(name, str) and name.startswith("_")


def _walk_problems(tree: nodes.Template, vocabulary: Vocabulary) -> Iterable[TemplateProblem]:
    internals = _("templates cannot reach Python internals (names starting with “_”).")
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", None)
        for node_type, word in _REFUSED_NODES.items():
            if isinstance(node, node_type):
                yield TemplateProblem(
                    _("“%(tag)s” is not available in personalisation.") % {"tag": word}, line
                )
        if isinstance(node, nodes.Getattr) and _is_private(node.attr):
            yield TemplateProblem(internals, line)
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and _is_private(node.arg.value):
                yield TemplateProblem(internals, line)
        elif isinstance(node, nodes.Call):
            yield TemplateProblem(
                _("calling functions or methods is not available in personalisation."), line
            )
        elif isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            yield TemplateProblem(
                _("the filter “%(name)s” is not available.") % {"name": node.name}, line
            )
        elif isinstance(node, nodes.Name) and _is_private(node.name):
            yield TemplateProblem(internals, line)
    yield from _field_problems(tree, vocabulary)


def _field_problems(tree: nodes.Template, vocabulary: Vocabulary) -> Iterable[TemplateProblem]:
    """``contact.nmae`` and ``sender.adress`` are typos: say so at save, not at send."""
    for node in tree.find_all(nodes.Getattr):
        if not isinstance(node.node, nodes.Name) or node.node.ctx != "load":
            continue
        owner = node.node.name
        if owner == "contact" and node.attr not in CONTACT_FIELDS:
            yield TemplateProblem(
                _("contacts have no field “%(name)s”.") % {"name": node.attr}, node.lineno
            )
        elif owner == "sender" and node.attr not in SENDER_FIELDS:
            yield TemplateProblem(
                _("the sender has no field “%(name)s”.") % {"name": node.attr}, node.lineno
            )
    if vocabulary.attribute_keys is None:
        return
    for node in tree.find_all(nodes.Getattr):
        inner = node.node
        if (
            isinstance(inner, nodes.Getattr)
            and inner.attr == "attributes"
            and isinstance(inner.node, nodes.Name)
            and inner.node.name == "contact"
            and node.attr not in vocabulary.attribute_keys
        ):
            yield TemplateProblem(
                _("there is no custom field “%(name)s”.") % {"name": node.attr}, node.lineno
            )


def check_template(
    source: str, *, html: bool, vocabulary: Vocabulary = Vocabulary()
) -> list[TemplateProblem]:
    """Every problem of ``source`` (syntax, refused constructs, unknown names), each with
    its line. An empty list means the template may be saved."""
    env = _env(html)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as error:
        return [TemplateProblem(error.message or str(error), error.lineno)]
    problems = list(_walk_problems(tree, vocabulary))
    # Computed from the tree rather than with ``jinja2.meta``, which compiles the template
    # and stops at the first unknown filter.
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    known = vocabulary.names | assigned | {"loop"}
    reported = set()
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name in known or _is_private(name.name):
            continue
        if name.name not in reported:
            reported.add(name.name)
            problems.append(
                TemplateProblem(_("unknown name “%(name)s”.") % {"name": name.name}, name.lineno)
            )
    if not problems:
        try:
            env.from_string(source)
        except TemplateError as error:
            problems.append(TemplateProblem(error.message or str(error), error.lineno))
    unique = {(problem.line, problem.message): problem for problem in problems}
    problems = list(unique.values())
    problems.sort(key=lambda problem: problem.line or 0)
    return problems


def uses_name(source: str, name: str, *, html: bool) -> bool:
    """Whether ``source`` reads the variable ``name`` (e.g. a layout's ``content``)."""
    try:
        tree = _env(html).parse(source)
    except TemplateSyntaxError:
        return False
    return any(n.name == name and n.ctx == "load" for n in tree.find_all(nodes.Name))


# --- Rendering --------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    return _env(html).from_string(source)


def render(source: str, context: Mapping, *, html: bool) -> str:
    """Render ``source`` with ``context`` in the sandbox; raises ``RenderError``.

    Callers pass only plain data (``plain_data``) and ``markupsafe.Markup`` for HTML
    they built themselves (the footer, a rendered body inside a layout).
    """
    if not source:
        return ""
    try:
        output = _compiled(source, html).render(dict(context))
    except SecurityError as error:
        raise RenderError(_("refused by the sandbox: %(error)s") % {"error": error}) from None
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        message = getattr(error, "message", None) or str(error)
        if line:
            message = _("Line %(line)s: %(message)s") % {"line": line, "message": message}
        raise RenderError(message) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError) as error:
        raise RenderError(str(error)) from None
    if len(output) > MAX_OUTPUT:
        raise RenderError(_("the rendered message is too large."))
    return output


def plain_data(value, _depth: int = 0):
    """``value`` as plain JSON-like data (dict with string keys, list, str, int, float,
    bool, None); dates become ISO text and decimals text. Anything else is refused, so
    no object with methods or internals ever reaches a template."""
    if _depth > 8:
        raise TypeError("contact data nested too deeply")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): plain_data(item, _depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(item, _depth + 1) for item in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not plain contact data")
