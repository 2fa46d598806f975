"""Every URL pattern of the project, checked for access control.

The walker goes through ``django.urls.get_resolver()`` recursively, builds a real URL for
each pattern (sample values come from real objects of organisation A) and checks:

- anonymous visitors are sent to a login page (except the ``PUBLIC`` allow-list below);
- an admin of organisation B (the outsider) gets 404 on every ``/o/<org-a>/...`` URL:
  never a 403 or a page that confirms something exists;
- for a view with ``required_perm`` (set by ``accounts.access.org_view``), every role of
  organisation A whose permission set (``accounts.roles.ROLE_PERMISSIONS``) lacks it gets
  403;
- as a control, an admin of A does *not* get 404 on those URLs: the sample objects are
  real, so the outsider's 404 comes from tenancy and not from a missing object.

A pattern the walker cannot build a URL for fails the test; nothing is skipped.

How to extend it
----------------
- A new keyword argument in a URL (``<int:segment_id>``): add a line to ``KWARG_SAMPLES``.
  For a model of one organisation, ``_row("app_label.ModelName")`` finds or creates a row
  of organisation A; it calls ``tests.factories.make_<model_name>(organization)`` when
  that factory exists, and otherwise fills the required fields itself. Anything else is a
  function ``lambda s: value`` of the ``Samples`` (``s.org``, ``s.admin``, ``s.member``,
  ``s.invitation``, ``s.row(label)``).
- A new URL anonymous visitors may open on purpose (a tracking pixel, an unsubscribe
  link): add its name to ``PUBLIC`` with the statuses it answers and a comment saying why.
- An endpoint that answers anonymous requests with 401/403 instead of a login redirect
  (an API authenticated by token) is also a ``PUBLIC`` entry, with that status.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern
from django.utils import timezone
from django.utils.regex_helper import normalize

from accounts.enums import Role
from accounts.models import Invitation, Organization, User
from accounts.roles import ROLE_PERMISSIONS
from accounts.services import invitation_token

# URLs anonymous visitors may open, by name, with the statuses they may answer.
# Static files are not here: WhiteNoise serves them in middleware, outside the URL
# patterns, so the walker never meets them.
PUBLIC: dict[str, set[int]] = {
    "accounts:login": {200},  # the login page itself
    "accounts:accept_invitation": {200},  # the signed link is the credential
    "healthz": {200, 503},  # load balancers; says only up/down per part
    "set_language": {302},  # language switcher on the login page
    "admin:login": {200},  # the platform operators' login page
    # Django's admin sends an anonymous logout to the admin index, which asks for login.
    "admin:logout": {302},
    # What recipients reach from a message: the pixel answers every token (it reveals
    # nothing); an unknown click or unsubscribe link is a 404, never a redirect.
    "tracking:open": {200},
    "tracking:click": {404},
    "tracking:unsubscribe": {404},
    # The REST API's description and its docs page (they describe, they hold no data).
    "api_schema": {200},
    "api_docs": {200},
}
# The REST API (``api:`` names, under /api/v1/) authenticates by bearer token only, never
# by session: every endpoint answers an anonymous request with 401 and WWW-Authenticate.
# tests/api covers what a token may reach (scopes, roles, other organisations: 404).
API_NAMESPACE = "api:"
LOGIN_PAGES = {"/login/", "/admin/login/"}
ROLES = [Role.ADMIN, Role.MARKETER, Role.APPROVER, Role.VIEWER]


class MissingSample(LookupError):
    """The walker has no sample value for a URL keyword argument."""


# --- Sample values for URL keyword arguments ------------------------------------------

_sample_numbers = itertools.count(1)


def _sample_value(field: models.Field, samples: Samples):
    """A value a required field accepts (for rows created without a factory)."""
    n = next(_sample_numbers)
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.ForeignKey):
        related = field.related_model
        if related is Organization:
            return samples.org
        if related is User:
            return samples.admin.user
        return samples.row(related._meta.label)
    if isinstance(field, models.EmailField) or "email" in field.name or "address" in field.name:
        return f"sample{n}@a.example"
    if isinstance(field, models.CharField | models.TextField):
        return f"sample-{n}"[: field.max_length or None]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.IntegerField | models.FloatField):
        return 1
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(1)
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date.today()
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.BinaryField):
        return b""
    if isinstance(field, models.JSONField):
        return {}
    raise MissingSample(
        f"cannot fill {field.model._meta.label}.{field.name} ({type(field).__name__}): "
        f"add tests.factories.make_{field.model._meta.model_name}(organization)"
    )


def _create_row(model: type[models.Model], samples: Samples) -> models.Model:
    from tests import factories

    factory = getattr(factories, f"make_{model._meta.model_name}", None)
    if factory is not None:
        return factory(samples.org)
    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.null or field.has_default():
            continue
        if not isinstance(field, models.ForeignKey) and field.get_default() is not None:
            continue  # text fields default to ""
        values[field.name] = _sample_value(field, samples)
    return model.objects.create(**values)


@dataclass
class Samples:
    """Real objects of organisation A behind the URL keyword arguments."""

    org: Organization
    admin: object  # the admin's Membership
    member: object  # another Membership of A (the viewer's)
    invitation: Invitation

    def __post_init__(self):
        self._values: dict[str, object] = {}
        self._rows: dict[str, models.Model] = {}

    def __call__(self, name: str):
        if name not in self._values:
            if name not in KWARG_SAMPLES:
                raise MissingSample(
                    f"no sample for the URL keyword argument {name!r}: "
                    "add it to KWARG_SAMPLES in tests/test_url_access.py"
                )
            self._values[name] = KWARG_SAMPLES[name](self)
        return self._values[name]

    def row(self, label: str) -> models.Model:
        """A row of ``label`` ("app.Model") of organisation A, created on first use."""
        if label not in self._rows:
            try:
                model = apps.get_model(label)
            except LookupError:
                raise MissingSample(
                    f"model {label} does not exist: fix its line in KWARG_SAMPLES"
                ) from None
            tenant_owned = any(f.name == "organization" for f in model._meta.concrete_fields)
            existing = model._default_manager.all()
            if tenant_owned:
                existing = existing.filter(organization=self.org)
            self._rows[label] = existing.order_by("pk").first() or _create_row(model, self)
        return self._rows[label]


def _row(label: str) -> Callable[[Samples], int]:
    return lambda s: s.row(label).pk


KWARG_SAMPLES: dict[str, Callable[[Samples], object]] = {
    # Tenancy: every organisation page is /o/<org_slug>/...
    "org_slug": lambda s: s.org.slug,
    # accounts
    "member_id": lambda s: s.member.pk,
    "invitation_id": lambda s: s.invitation.pk,
    "token": lambda s: invitation_token(s.invitation),  # invitation links
    # contacts
    "contact_id": _row("contacts.Contact"),
    "list_id": _row("contacts.ContactList"),
    "import_id": _row("contacts.ImportJob"),
    "field_id": _row("contacts.CustomField"),
    "suppression_id": _row("contacts.Suppression"),
    "tag_id": _row("contacts.Tag"),
    "token_id": _row("accounts.ApiToken"),  # the API tokens page
    # segments and campaigns
    "segment_id": _row("segments.Segment"),
    "campaign_id": _row("campaigns.Campaign"),
    "layout_id": _row("campaigns.Layout"),
    # delivery: the development mail sink (platform-wide, no organisation)
    "message_id": _row("delivery.SinkMessage"),
    "domain_id": _row("delivery.SendingDomain"),
    "relay_id": _row("delivery.SmtpRelay"),
    # tracking links (``token`` above is not a delivery token, so these answer as for
    # an unknown or altered link)
    "encoded_url": lambda s: "aHR0cHM6Ly9ldmlsLmV4YW1wbGUv",
    "signature": lambda s: "not-a-signature",
    # Django admin: only anonymous visitors are sent there, so any existing row will do.
    "app_label": lambda s: "accounts",
    "object_id": lambda s: s.org.pk,
    "content_type_id": lambda s: ContentType.objects.get_for_model(Organization).pk,
    "id": lambda s: s.admin.user.pk,  # UserAdmin's password page
    "pk": lambda s: s.org.pk,  # django-otp's device config pages
    "url": lambda s: "no-such-page/",  # the admin's catch-all
}


# --- The walker ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    patterns: tuple  # the pattern of each level, outermost first
    name: str | None  # "namespace:name"
    callback: Callable

    @property
    def label(self) -> str:
        text = "".join(str(p) for p in self.patterns)
        return f"{self.name} ({text})" if self.name else f"<unnamed> ({text})"

    @property
    def kwargs(self) -> list[str]:
        return [name for p in self.patterns for name in normalize(p.regex.pattern)[0][1]]

    @property
    def in_organization(self) -> bool:
        return "org_slug" in self.kwargs


def walk(resolver: URLResolver | None = None) -> list[Route]:
    """Every URL pattern under ``resolver`` (the project's by default), recursively."""

    def _walk(patterns, prefix: tuple, namespaces: tuple):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
                yield from _walk(pattern.url_patterns, (*prefix, pattern.pattern), ns)
            elif isinstance(pattern, URLPattern):
                name = ":".join((*namespaces, pattern.name)) if pattern.name else None
                yield Route((*prefix, pattern.pattern), name, pattern.callback)
            else:
                raise TypeError(f"unknown URL pattern type {type(pattern).__name__}")

    resolver = resolver or get_resolver()
    return list(_walk(resolver.url_patterns, (), ()))


def build_url(route: Route, samples: Callable[[str], object], resolver=None) -> str:
    """A URL for ``route`` with sample values; checks it resolves back to the same view.

    Raises ``MissingSample`` when a keyword argument has no sample, and ``AssertionError``
    when the URL built does not lead to the route's view (a sample its converter refuses).
    """
    url = "/"
    for pattern in route.patterns:
        converters = getattr(pattern, "converters", {})
        possibilities = normalize(pattern.regex.pattern)
        # An optional group gives several possibilities; take the first we can fill.
        text, params = next(
            ((t, p) for t, p in possibilities if all(name in KWARG_SAMPLES for name in p)),
            possibilities[0],
        )
        values = {}
        for name in params:
            value = samples(name)
            converter = converters.get(name)
            values[name] = converter.to_url(value) if converter else str(value)
        url += text % values
    resolver = resolver or get_resolver()
    try:
        match = resolver.resolve(url)
    except Resolver404:
        raise AssertionError(f"{route.label}: built {url!r}, which resolves to nothing") from None
    assert match.func is route.callback, f"{route.label}: built {url!r}, which leads elsewhere"
    return url


# --- Fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def samples(org_a, admin, viewer, marketer, approver, outsider):
    invitation = Invitation.objects.create(
        organization=org_a, email="invited@a.example", role=Role.MARKETER, invited_by=admin.user
    )
    return Samples(org=org_a, admin=admin, member=viewer, invitation=invitation)


@pytest.fixture
def routes(samples):
    """``(route, url)`` for every pattern; fails listing every pattern it cannot build."""
    built, problems = [], []
    for route in walk():
        try:
            built.append((route, build_url(route, samples)))
        except (MissingSample, AssertionError) as error:
            problems.append(f"{route.label}: {error}")
    assert not problems, "URL patterns the walker cannot build:\n" + "\n".join(problems)
    return built


@dataclass(frozen=True)
class Crash:
    """Stands in for the response of a view that raised (reported, not fatal)."""

    error: Exception

    @property
    def status_code(self) -> str:
        return f"raised {type(self.error).__name__}: {self.error}"

    @property
    def headers(self) -> dict:
        return {}


def _fetch(client: Client, url: str):
    """GET, or POST when the view only takes POST: the check must run either way.

    A view that raises is reported with the others instead of stopping the walk.
    """
    try:
        response = client.get(url)
        if response.status_code == 405:
            response = client.post(url)
    except Exception as error:
        return Crash(error)
    return response


def _fetch_safe(client: Client, url: str):
    """GET only (the control must not change anything), reporting a view that raises."""
    try:
        return client.get(url)
    except Exception as error:
        return Crash(error)


def _sends_to_login(response, url: str) -> bool:
    if response.status_code != 302:
        return False
    location = urlsplit(response["Location"])
    if location.path not in LOGIN_PAGES:
        return False
    next_values = parse_qs(location.query).get("next")
    return next_values in (None, [url])


def _report(problems: list[str], what: str) -> str:
    return f"{len(problems)} URL(s) {what}:\n" + "\n".join(problems)


# --- The checks ------------------------------------------------------------------------


def test_url_walker_builds_every_pattern(routes):
    names = {route.name for route, _url in routes}

    # The walker sees the whole tree (nested includes, namespaces), not a part of it.
    assert {
        "accounts:login",
        "accounts:dashboard",
        "accounts:member_role",
        "accounts:invitation_revoke",
        "audit:log",
        "healthz",
        "admin:index",
    } <= names
    assert set(PUBLIC) <= names, "PUBLIC names a URL that no longer exists"


def test_every_url_sends_anonymous_visitors_to_login(routes, client):
    problems = []
    for route, url in routes:
        response = _fetch(client, url)
        if route.name and route.name.startswith(API_NAMESPACE):
            if response.status_code != 401:
                problems.append(f"{route.label} {url}: API, but {response.status_code}")
        elif route.name in PUBLIC:
            if response.status_code not in PUBLIC[route.name]:
                problems.append(f"{route.label} {url}: public, but {response.status_code}")
        elif not _sends_to_login(response, url):
            location = response.headers.get("Location", "")
            problems.append(f"{route.label} {url}: {response.status_code} {location}")

    assert not problems, _report(problems, "open to anonymous visitors")


def test_every_organisation_url_is_not_found_for_an_outsider(routes, outsider_client):
    org_routes = [(route, url) for route, url in routes if route.in_organization]
    problems = []
    for route, url in org_routes:
        response = _fetch(outsider_client, url)
        if response.status_code != 404:
            problems.append(f"{route.label} {url}: {response.status_code}")

    assert len(org_routes) >= 7
    assert not problems, _report(problems, "not 404 for an admin of another organisation")


def test_every_organisation_url_is_forbidden_to_roles_without_its_permission(routes, request):
    checked, problems = 0, []
    for route, url in routes:
        perm = getattr(route.callback, "required_perm", None)
        if perm is None:
            continue
        for role in ROLES:
            if perm in ROLE_PERMISSIONS[role]:
                continue
            response = _fetch(request.getfixturevalue(f"{role}_client"), url)
            checked += 1
            if response.status_code != 403:
                problems.append(f"{route.label} {url} as {role} ({perm}): {response.status_code}")

    assert checked >= 15
    assert not problems, _report(problems, "not 403 for a role without the permission")


def test_every_organisation_url_is_reachable_by_its_admin(routes, admin_client):
    # The control for the outsider check: the sample objects exist and belong to A.
    problems = []
    for route, url in routes:
        if not route.in_organization:
            continue
        response = _fetch_safe(admin_client, url)
        if isinstance(response, Crash) or response.status_code in (404, 500):
            problems.append(f"{route.label} {url}: {response.status_code}")

    assert not problems, _report(problems, "not reachable by an admin of the organisation")


# --- The walker itself ------------------------------------------------------------------


def _view(request, **kwargs):  # pragma: no cover - never called
    raise AssertionError


def _resolver(*patterns) -> URLResolver:
    return URLResolver(RegexPattern(r"^/"), list(patterns))


def test_url_walker_fails_on_a_keyword_argument_without_sample(samples):
    resolver = _resolver(path("o/<slug:org_slug>/widgets/<int:widget_id>/", _view))
    (route,) = walk(resolver)

    with pytest.raises(MissingSample) as error:
        build_url(route, samples, resolver)

    assert str(error.value) == (
        "no sample for the URL keyword argument 'widget_id': "
        "add it to KWARG_SAMPLES in tests/test_url_access.py"
    )


def test_url_walker_fails_on_a_sample_the_converter_refuses(samples):
    resolver = _resolver(path("o/<int:org_slug>/", _view))
    (route,) = walk(resolver)

    with pytest.raises(AssertionError) as error:
        build_url(route, samples, resolver)

    assert "resolves to nothing" in str(error.value)


def test_url_walker_builds_nested_patterns_with_real_objects(samples):
    resolver = _resolver(
        path(
            "o/<slug:org_slug>/",
            (
                [path("members/<int:member_id>/", _view, name="member")],
                "team",
                "team",
            ),
        )
    )
    (route,) = walk(resolver)

    url = build_url(route, samples, resolver)

    assert route.name == "team:member"
    assert url == f"/o/org-a/members/{samples.member.pk}/"
