"""The one place that answers "may this person do this here?".

Every organisation page and API endpoint goes through ``org_view`` / ``resolve_member``
and ``get_object_for_member``:

- not logged in -> the login page;
- not an active member of the organisation in the URL -> 404 (never confirm it exists);
- request from outside the organisation's IP allow-list -> 403;
- idle longer than the organisation's session timeout -> logged out;
- role or organisation requires two-factor, or the person turned two-factor on, and the
  session is not verified -> 2FA page;
- another organisation's object -> 404; a member without the permission -> 403.
"""

from __future__ import annotations

import time
from functools import wraps

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from accounts import tenancy
from accounts.models import Membership, Organization
from accounts.net import client_ip
from accounts.roles import ROLE_PERMISSIONS, ROLES_REQUIRING_2FA


class IPNotAllowed(PermissionDenied):
    """The request comes from outside the organisation's IP allow-list."""


def needs_two_factor(membership: Membership) -> bool:
    return membership.role in ROLES_REQUIRING_2FA or membership.organization.require_2fa


def url_with_next(url: str, next_path: str) -> str:
    """``url?next=<next_path>``, with ``next_path`` quoted so its own query survives."""
    query = QueryDict(mutable=True)
    query["next"] = next_path
    return f"{url}?{query.urlencode(safe='/')}"


def has_perm(membership: Membership | None, perm: str, obj=None) -> bool:
    """Whether ``membership`` may do ``perm`` (optionally on ``obj``).

    An object of another organisation is never permitted. An object that restricts
    access (``obj.restricts_access()`` returns True, e.g. a restricted contact list) is
    permitted to admins and to people holding a django-guardian grant on it; otherwise
    the role's permission set decides.
    """
    if membership is None or not membership.is_active:
        return False
    if obj is not None:
        org_id = obj.pk if isinstance(obj, Organization) else getattr(obj, "organization_id", None)
        if org_id != membership.organization_id:
            return False
        restricts = getattr(obj, "restricts_access", None)
        if callable(restricts) and restricts():
            if membership.role == "admin":
                return True
            codename = obj.grant_codename(perm)
            return codename is not None and membership.user.has_perm(codename, obj)
    return perm in ROLE_PERMISSIONS.get(membership.role, ())


def require_perm(membership: Membership, perm: str, obj=None) -> None:
    if not has_perm(membership, perm, obj):
        raise PermissionDenied(perm)


def get_membership(user, organization_slug: str) -> Membership:
    """The user's active membership of the organisation, or 404."""
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(
            user=user,
            organization__slug=organization_slug,
            organization__is_active=True,
            is_active=True,
        )
        .first()
    )
    if membership is None:
        raise Http404
    return membership


def get_object_for_member(membership: Membership, queryset, perm: str, **lookup):
    """Fetch one object of the member's organisation; 404 if absent, 403 if not permitted."""
    obj = queryset.filter(organization=membership.organization, **lookup).first()
    if obj is None:
        raise Http404
    require_perm(membership, perm, obj)
    return obj


SESSION_ACTIVITY_KEY = "last_activity"


def _idle_too_long(request, organization: Organization) -> bool:
    previous = getattr(request, "previous_activity", None)
    if previous is None:
        return False
    return time.time() - previous > organization.session_timeout_minutes * 60


def resolve_member(request, organization_slug: str, perm: str | None = None):
    """Run every check for an organisation page. Returns a response to short-circuit
    (login / 2FA redirect) or ``None`` after setting ``request.organization`` and
    ``request.membership``. Raises 404 / 403 as described in the module docstring."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    membership = get_membership(request.user, organization_slug)
    organization = membership.organization
    if not organization.allows_ip(client_ip(request)):
        from audit import record
        from audit.enums import Action

        record(Action.IP_REFUSED, actor=request.user, organization=organization, request=request)
        raise IPNotAllowed("ip")
    if _idle_too_long(request, organization):
        logout(request)
        return redirect_to_login(request.get_full_path())
    if not request.user.is_verified():
        # Someone who turned two-factor on must use it even where their role does not
        # require it: otherwise a stolen password alone would open those pages.
        has_device = _has_device(request.user)
        if has_device or needs_two_factor(membership):
            target = "accounts:2fa_verify" if has_device else "accounts:2fa_setup"
            return redirect(url_with_next(reverse(target), request.get_full_path()))
    request.organization = organization
    request.membership = membership
    timezone.activate(organization.time_zone)
    # From here on PostgreSQL itself confines the request to this organisation
    # (accounts.tenancy; org_view and ActivityMiddleware leave the scope again).
    tenancy.scope_request(request, organization)
    if perm is not None:
        require_perm(membership, perm)
    return None


def _has_device(user) -> bool:
    from django_otp import devices_for_user

    return any(True for _ in devices_for_user(user, confirmed=True))


def org_view(perm: str | None = None):
    """Decorator for views under ``/o/<org_slug>/``: runs ``resolve_member`` first.

    The view receives ``request.organization`` / ``request.membership`` and the rest of
    the URL's arguments (``org_slug`` is consumed).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, org_slug, *args, **kwargs):
            try:
                response = resolve_member(request, org_slug, perm)
                if response is not None:
                    return response
                return view(request, *args, **kwargs)
            finally:
                tenancy.end_request_scope(request)

        wrapper.required_perm = perm
        return wrapper

    return decorator
