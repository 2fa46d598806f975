"""The operation log. ``audit.record(...)`` is the one way to write to it."""

from __future__ import annotations


def record(action, *, actor, organization, target=None, request=None, **details):
    """Append one entry to the organisation's audit chain. See ``audit.services.record``."""
    from audit.services import record as _record

    return _record(
        action, actor=actor, organization=organization, target=target, request=request, **details
    )
