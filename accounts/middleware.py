from __future__ import annotations

import time

from accounts.access import SESSION_ACTIVITY_KEY
from audit.context import acting_as

# Write the activity time at most this often, to spare a session write per request.
_ACTIVITY_WRITE_INTERVAL = 30


class ActivityMiddleware:
    """Tracks idle time for session timeouts and sets the acting user for the audit log.

    ``request.previous_activity`` is the last recorded activity before this request;
    ``accounts.access`` compares it with the organisation's timeout.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.previous_activity = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            previous = request.session.get(SESSION_ACTIVITY_KEY)
            request.previous_activity = previous
            if previous is None or now - previous > _ACTIVITY_WRITE_INTERVAL:
                request.session[SESSION_ACTIVITY_KEY] = now
        with acting_as(user if user is not None and user.is_authenticated else None, request):
            return self.get_response(request)
