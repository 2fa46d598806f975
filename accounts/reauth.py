"""Re-authentication ("sudo mode") before sensitive operations.

Contract
--------
- ``require_recent_auth(request)`` returns ``None`` when the person proved who they are
  (password or a current two-factor code) in this session within ``REAUTH_MAX_AGE``
  seconds; otherwise it returns the page that asks for it. A view calls it first and
  returns that page when it gets one (``@reauth_required`` does exactly that).
- Signing in counts: the password (and the second factor, where set) were just entered,
  so the login stamps the session (``accounts.sessions`` receiver). Exports of personal
  data (the contacts export, a campaign report's per-recipient CSV, the audit log) are
  stricter and ask with ``login_counts=False``: only a credential entered *after*
  signing in, within the five minutes, counts there (a browser left signed in does not
  hand over the list).
- A POST that needs re-authentication is not lost: the page re-posts the original
  fields to the same URL together with the credential, and the operation goes ahead in
  that same request once the credential checks out. A GET is sent back to its URL after
  the credential is accepted at ``/account/reauth/``.
- A wrong credential is audited (``reauth_failed``); a wrong password also counts
  towards django-axes' account lockout and writes a ``login_failed`` entry (it goes
  through ``authenticate`` like the login page), and two-factor devices throttle
  repeated wrong codes themselves. So the prompt cannot be used to guess a password.
- The stamp lives in this session only: another browser (or a stolen cookie replayed
  elsewhere after the owner's login) gets no benefit from it beyond the five minutes.

- A page that knows it will need the credential may carry the field itself
  (``templates/accounts/_reauth_field.html``, named ``CREDENTIAL_FIELD``): the POST then
  goes through ``require_recent_auth`` like a re-posted prompt, and a wrong credential
  gets the prompt page with the error.

Where it is asked: role changes (``accounts.views.member_role``), campaign approvals
(``campaigns.views.campaign_approve``), API token creation
(``accounts.token_pages.token_list``), and, with ``login_counts=False`` (exports of
personal data), the contacts export (``contacts.views.export``), the campaign report CSV
(``delivery.org_views.campaign_report_csv``) and the audit log export
(``audit.views.audit_export``: people's addresses, IP addresses and what they did).
There is no other re-authentication code in the project.
"""

from __future__ import annotations

import time
from functools import wraps

from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accounts.access import url_with_next
from audit.enums import Action

REAUTH_SESSION_KEY = "reauth_at"
# Whether the stamp above came from signing in (not from a credential entered since).
REAUTH_BY_LOGIN_KEY = "reauth_by_login"
REAUTH_MAX_AGE = 5 * 60
# The credential's field name, chosen so it cannot collide with a form it travels with.
CREDENTIAL_FIELD = "reauth_credential"
# Fields never copied into the re-posted form.
_NOT_REPOSTED = {"csrfmiddlewaretoken", CREDENTIAL_FIELD}


def mark_reauthenticated(request, *, at_login: bool = False) -> None:
    request.session[REAUTH_SESSION_KEY] = time.time()
    request.session[REAUTH_BY_LOGIN_KEY] = at_login


def recently_reauthenticated(request, *, login_counts: bool = True) -> bool:
    """Whether the person proved who they are within ``REAUTH_MAX_AGE`` seconds in this
    session; with ``login_counts=False``, signing in is not such a proof."""
    stamp = request.session.get(REAUTH_SESSION_KEY)
    if not (isinstance(stamp, int | float) and 0 <= time.time() - stamp <= REAUTH_MAX_AGE):
        return False
    return login_counts or request.session.get(REAUTH_BY_LOGIN_KEY) is False


def _devices(user):
    from django_otp import devices_for_user

    return list(devices_for_user(user, confirmed=True))


def check_credential(request, credential: str) -> bool:
    """Whether ``credential`` is the logged-in person's password or a current two-factor
    (or recovery) code. Stamps the session on success; audits a failure."""
    user = request.user
    credential = (credential or "").strip()
    ok = False
    if credential:
        code = credential.replace(" ", "")
        # Only something shaped like a code goes to the devices: a wrong "code" counts
        # towards the device's throttling, and a password must not lock out the phone.
        if code.isdigit() and len(code) <= 8:
            ok = any(device.verify_token(code) for device in _devices(user))
        if not ok:
            found = authenticate(request, username=user.email, password=credential)
            ok = found is not None and found.pk == user.pk
    if ok:
        mark_reauthenticated(request)
    else:
        _record_failure(request)
    return ok


def _record_failure(request) -> None:
    from audit import record
    from audit.services import record_for_user

    membership = getattr(request, "membership", None)
    if membership is not None:
        record(
            Action.REAUTH_FAILED,
            actor=request.user,
            organization=membership.organization,
            target=request.user,
            request=request,
            path=request.path,
        )
    else:
        record_for_user(Action.REAUTH_FAILED, request.user, request, path=request.path)


def _reposted_fields(request) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, values in request.POST.lists()
        if name not in _NOT_REPOSTED
        for value in values
    ]


def require_recent_auth(request, *, login_counts: bool = True):
    """``None`` if the person re-authenticated recently (or does so with this very POST);
    otherwise the response asking for the password or a code. See the module docstring
    (``login_counts=False``: the exports of personal data)."""
    if recently_reauthenticated(request, login_counts=login_counts):
        return None
    error = ""
    if request.method == "POST" and CREDENTIAL_FIELD in request.POST:
        if check_credential(request, request.POST[CREDENTIAL_FIELD]):
            return None
        error = _("That is not your password or a current code. Try again.")
    context = {
        "error": error,
        "has_device": bool(_devices(request.user)),
        "field": CREDENTIAL_FIELD,
    }
    if request.method == "POST":
        context.update(action=request.get_full_path(), fields=_reposted_fields(request))
    else:
        context.update(
            action=url_with_next(reverse("accounts:reauth"), request.get_full_path()),
            fields=[],
        )
    return render(request, "accounts/reauth.html", context, status=400 if error else 200)


def reauth_required(view=None, *, login_counts: bool = True):
    """Decorator: ``require_recent_auth`` before the view. Put it *under* ``org_view``
    so that outsiders still get a 404 and roles without the permission a 403 first.
    ``@reauth_required(login_counts=False)`` for an export of personal data."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            response = require_recent_auth(request, login_counts=login_counts)
            if response is not None:
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("accounts:home")


@login_required
def reauth_view(request):
    """The stand-alone prompt for GET pages: on success, back to ``next``."""
    target = _safe_next(request)
    error = ""
    if request.method == "POST":
        if check_credential(request, request.POST.get(CREDENTIAL_FIELD, "")):
            return redirect(target)
        error = _("That is not your password or a current code. Try again.")
    context = {
        "error": error,
        "has_device": bool(_devices(request.user)),
        "field": CREDENTIAL_FIELD,
        "action": url_with_next(reverse("accounts:reauth"), target),
        "fields": [],
    }
    return render(request, "accounts/reauth.html", context, status=400 if error else 200)
