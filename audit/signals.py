"""Authentication events become audit entries.

A login concerns every organisation the person belongs to, so it is written to each of
their organisations' chains (one entry per organisation; their admins see it there). An
attempt for an address nobody uses goes to the platform chain.
"""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.enums import Action
from audit.services import record_for_user as _record_for_user


def _user_by_email(email: str):
    if not email:
        return None
    return get_user_model().objects.filter(email__iexact=email.strip()).first()


@receiver(user_logged_in)
def _on_login(sender, request, user, **kwargs):
    _record_for_user(Action.LOGIN, user, request)


@receiver(user_logged_out)
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        _record_for_user(Action.LOGOUT, user, request)


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs):
    email = credentials.get("username") or credentials.get("email") or ""
    user = _user_by_email(email)
    _record_for_user(Action.LOGIN_FAILED, user, request, label=email, email=email)


@receiver(user_locked_out)
def _on_lockout(sender, request, username, ip_address, **kwargs):
    user = _user_by_email(username or "")
    _record_for_user(Action.LOCKOUT, user, request, label=username or "", email=username or "")
