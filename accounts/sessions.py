"""Who is signed in where: tracked sessions, remote sign-out, sign-out everywhere.

Contract
--------
- Sessions stay in Django's database session store (``SESSION_ENGINE`` is set to it
  explicitly); each signed-in session also has an ``accounts.UserSession`` row naming its
  user, client address and browser, written at login and refreshed by
  ``accounts.middleware.ActivityMiddleware`` (``touch``) at most once a minute.
- Signing a session out deletes it from the session store: its next request is
  anonymous, and a request already running cannot save it back (Django refuses to
  resurrect a deleted database session). The ``UserSession`` row goes too.
- A person sees and signs out only their own sessions; an admin can sign a member out
  of every session at once (``sign_out_everywhere``, needs ``members.manage``). One
  session serves all of a person's organisations, so that signs them out of every
  organisation, which is what a suspected account takeover calls for.
- Every sign-out made here is audited; ordinary login and logout are audited by
  ``audit.signals`` as before.
"""

from __future__ import annotations

import time
from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.contrib.sessions.models import Session
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import UserSession
from accounts.net import client_ip
from audit.enums import Action

# Refresh a session's row at most this often (seconds).
TOUCH_INTERVAL = 60
TOUCHED_AT_KEY = "session_seen_at"


def _store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def _describe(request) -> dict:
    return {
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        "last_seen_at": timezone.now(),
    }


def touch(request, now: float | None = None, *, force: bool = False) -> None:
    """Record (or refresh) the current session's row; cheap when called on every request."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is None or user is None or not user.is_authenticated:
        return
    now = time.time() if now is None else now
    seen = session.get(TOUCHED_AT_KEY)
    if not force and isinstance(seen, int | float) and 0 <= now - seen < TOUCH_INTERVAL:
        return
    if session.session_key is None:
        session.save()
    UserSession.objects.update_or_create(
        session_key=session.session_key, defaults={"user": user, **_describe(request)}
    )
    session[TOUCHED_AT_KEY] = now


@receiver(user_logged_in, dispatch_uid="accounts.sessions.logged_in")
def _on_login(sender, request, user, **kwargs):
    if request is None or getattr(request, "session", None) is None:
        return
    from accounts.reauth import mark_reauthenticated

    # Entering the password (and the code) just now is an authentication.
    mark_reauthenticated(request, at_login=True)
    request.user = user
    touch(request, force=True)


@receiver(user_logged_out, dispatch_uid="accounts.sessions.logged_out")
def _on_logout(sender, request, user, **kwargs):
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()


def active_sessions(user) -> list[UserSession]:
    """The user's signed-in sessions, most recently used first. Rows whose session has
    ended (expired, flushed, signed out elsewhere) are removed on the way."""
    rows = list(UserSession.objects.filter(user=user))
    live = set(
        Session.objects.filter(
            session_key__in=[row.session_key for row in rows], expire_date__gt=timezone.now()
        ).values_list("session_key", flat=True)
    )
    ended = [row.pk for row in rows if row.session_key not in live]
    if ended:
        UserSession.objects.filter(pk__in=ended).delete()
    return [row for row in rows if row.session_key in live]


def _end(rows) -> int:
    store = _store()
    count = 0
    for row in rows:
        store(session_key=row.session_key).delete()
        row.delete()
        count += 1
    return count


@transaction.atomic
def sign_out_session(user, session_id: int, request=None) -> bool:
    """Sign out one of ``user``'s own sessions (by row id). False if there is no such
    session of theirs (someone else's row is never touched)."""
    row = UserSession.objects.select_for_update().filter(user=user, pk=session_id).first()
    if row is None:
        return False
    current = request is not None and row.session_key == request.session.session_key
    _end([row])
    from audit.services import record_for_user

    record_for_user(
        Action.SESSION_SIGNED_OUT,
        user,
        request,
        ip_of_session=row.ip,
        user_agent_of_session=row.user_agent,
        current=current,
    )
    return True


@transaction.atomic
def sign_out_other_sessions(user, request) -> int:
    """Sign out every session of ``user`` except the one making the request."""
    rows = list(
        UserSession.objects.select_for_update()
        .filter(user=user)
        .exclude(session_key=request.session.session_key)
    )
    count = _end(rows)
    if count:
        from audit.services import record_for_user

        record_for_user(Action.SESSION_SIGNED_OUT, user, request, others=count)
    return count


@transaction.atomic
def sign_out_everywhere(membership, target, request=None) -> int:
    """An admin signs ``target`` (a membership of their organisation) out of every
    session; returns how many ended. Needs ``members.manage``; audited in the
    organisation's log whatever the count."""
    from accounts.access import require_perm
    from audit import record

    require_perm(membership, "members.manage", target)
    rows = list(UserSession.objects.select_for_update().filter(user_id=target.user_id))
    count = _end(rows)
    record(
        Action.MEMBER_SIGNED_OUT,
        actor=membership.user,
        organization=membership.organization,
        target=target,
        request=request,
        email=target.user.email,
        sessions=count,
    )
    return count
