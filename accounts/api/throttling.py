"""Rate limits per token, counted in the Django cache (Redis in production and tests).

Two budgets per token: ``read`` (GET) and ``write`` (everything else), each
``API_RATE_LIMITS[budget]`` like ``"600/min"``. A fixed window per budget: the first
request of a window creates the counter (``cache.add``), the others increment it
(``cache.incr``, atomic in Redis), and it expires with the window. Over the limit: 429
with ``Retry-After`` = the seconds left in the window.

The key holds the token's public prefix rather than its id, so counters from a former
test database can never be mistaken for a new token's.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiToken

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"120/min"`` -> ``(120, 60)``."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # unauthenticated requests are refused before they cost anything
        budget = "read" if request.method in SAFE_METHODS else "write"
        limit, period = parse_rate(settings.API_RATE_LIMITS[budget])
        now = time.time()
        window = int(now // period)
        key = f"api:rate:{token.prefix}:{budget}:{period}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window starts
            cache.add(key, 1, timeout=period + 1)
            count = 1
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self):
        return self._wait
