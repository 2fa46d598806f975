"""Who is acting right now: set by the request middleware, or explicitly by a task.

Celery tasks have no request; they wrap their work in ``acting_as(user)`` so both our
audit entries and django-auditlog's change history name the right actor.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from auditlog.context import set_actor

_actor: ContextVar = ContextVar("audit_actor", default=None)
_request: ContextVar = ContextVar("audit_request", default=None)


def current_actor():
    return _actor.get()


def current_request():
    return _request.get()


@contextlib.contextmanager
def request_scope(actor, request):
    """Set the actor for our audit entries during a request.

    django-auditlog gets the same actor from its own middleware
    (``audit.middleware.AuditlogMiddleware``); calling its ``set_actor`` here too would
    stack a signal receiver per request.
    """
    actor_token = _actor.set(actor)
    request_token = _request.set(request)
    try:
        yield
    finally:
        _actor.reset(actor_token)
        _request.reset(request_token)


@contextlib.contextmanager
def acting_as(actor, request=None):
    """For work outside a request (Celery tasks, commands): name the actor for both our
    audit entries and django-auditlog's change history."""
    actor_token = _actor.set(actor)
    request_token = _request.set(request)
    try:
        if actor is not None and getattr(actor, "is_authenticated", False):
            with set_actor(actor):
                yield
        else:
            yield
    finally:
        _actor.reset(actor_token)
        _request.reset(request_token)
