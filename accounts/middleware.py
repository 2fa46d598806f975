from __future__ import annotations

import time

from django.contrib.auth import logout
from django.db.models import Min
from django.utils import timezone

from accounts import sessions, tenancy
from accounts.access import SESSION_ACTIVITY_KEY
from audit.context import request_scope

# Write the activity time at most this often, to spare a session write per request.
_ACTIVITY_WRITE_INTERVAL = 30
# The shortest timeout an organisation can choose (``Organization.session_timeout_minutes``
# validates >= 5): below this idle time no timeout can have passed, so no query is needed.
_SHORTEST_TIMEOUT_SECONDS = 5 * 60


def _strictest_timeout_seconds(user) -> float | None:
    minutes = user.memberships.filter(is_active=True, organization__is_active=True).aggregate(
        minutes=Min("organization__session_timeout_minutes")
    )["minutes"]
    return None if minutes is None else minutes * 60


class ActivityMiddleware:
    """Tracks idle time for session timeouts and sets the acting user for the audit log.

    ``request.previous_activity`` is the last recorded activity before this request;
    ``accounts.access`` compares it with the organisation's timeout.

    One session serves every organisation a person belongs to, so a session idle longer
    than the strictest of those organisations' timeouts is ended here, on *any* page.
    Checking only on organisation pages would let a visit to ``/`` or
    ``/account/security/`` refresh the activity time and revive an expired session.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.previous_activity = None
        # An organisation page activates its time zone; never let it leak into the next
        # request this thread serves.
        timezone.deactivate()
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            previous = request.session.get(SESSION_ACTIVITY_KEY)
            idle = None if previous is None else now - previous
            if idle is not None and idle > _SHORTEST_TIMEOUT_SECONDS:
                timeout = _strictest_timeout_seconds(user)
                if timeout is not None and idle > timeout:
                    logout(request)
                    user = None
            if user is not None:
                request.previous_activity = previous
                if idle is None or idle > _ACTIVITY_WRITE_INTERVAL:
                    request.session[SESSION_ACTIVITY_KEY] = now
                # Where and when this session was last used, for the sessions page.
                sessions.touch(request, now)
        try:
            with request_scope(
                user if user is not None and user.is_authenticated else None, request
            ):
                return self.get_response(request)
        finally:
            timezone.deactivate()
            # Normally left already by org_view; never let a scope reach the next request.
            tenancy.end_request_scope(request)
