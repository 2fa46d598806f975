"""The client's address, read the same way everywhere (login lockout, audit, allow-list).

django-axes is pointed at this function (``AXES_CLIENT_IP_CALLABLE``), so a lockout, an
audit entry and an allow-list decision never disagree about who is asking.

Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, the client is the address the outermost
of *our* proxies saw: the n-th entry from the right of ``X-Forwarded-For``. Anything
left of it was written by the client and can be forged. Written by hand (instead of
ipware's left-most/right-most heuristics) because this one rule is the whole contract.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    if request is None:
        return None
    remote = _valid(request.META.get("REMOTE_ADDR", "") or "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
    if len(forwarded) < hops:
        return remote
    return _valid(forwarded[-hops]) or remote
