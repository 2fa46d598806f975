"""Every API error has one shape, and no input ever produces a 500.

``{"code": "...", "detail": "human sentence", "fields": {"name": ["message", ...]}}``
(``fields`` only for 400). The services raise Django's exceptions; this handler turns
them into answers:

- ``ValidationError`` -> 400 with per-field messages (``attr:<key>`` from the contacts
  services becomes ``attributes.<key>``; messages not about a field go under
  ``non_field_errors``);
- a state refusal (``Conflict``, or a service's non-field ``ValidationError`` raised
  inside ``state_conflicts()``) -> 409;
- ``PermissionDenied`` -> 403; ``Http404`` -> 404 (another organisation's object is
  always a 404); a rule tree the segments services refuse -> 400 on ``rules``;
- ``PayloadTooLarge`` -> 413; an ``Idempotency-Key`` reused with another body -> 422;
- throttling -> 429 with ``Retry-After``; authentication -> 401 with
  ``WWW-Authenticate``.
"""

from __future__ import annotations

import contextlib

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

NON_FIELD = "non_field_errors"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's current state does not allow this."
    default_code = "state_conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used with a different request."
    default_code = "idempotency_key_reused"


class IdempotencyKeyInUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed."
    default_code = "idempotency_key_in_use"


def _messages(error: DjangoValidationError) -> list[str]:
    return [str(message) for message in error.messages]


def field_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """A services' ``ValidationError`` as ``{field: [messages]}``."""
    if not hasattr(error, "error_dict"):
        return {NON_FIELD: _messages(error)}
    fields: dict[str, list[str]] = {}
    for name, errors in error.error_dict.items():
        if name == "__all__":
            name = NON_FIELD
        elif name.startswith("attr:"):
            name = "attributes." + name[len("attr:") :]
        for item in errors:
            fields.setdefault(name, []).extend(_messages(item))
    return fields


def _first_message(fields: dict[str, list[str]]) -> str:
    for messages in fields.values():
        if messages:
            return messages[0]
    return _("Invalid input.")


@contextlib.contextmanager
def state_conflicts():
    """Inside: a service refusal that names no field (``Only a draft can be submitted``)
    is about the object's state, so it becomes a 409; field errors stay 400s."""
    try:
        yield
    except DjangoValidationError as error:
        if hasattr(error, "error_dict") and set(error.error_dict) - {"__all__"}:
            raise
        raise Conflict(" ".join(_messages(error)), code=getattr(error, "code", None)) from error


def _drf_fields(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        fields = {}
        for name, value in detail.items():
            if isinstance(value, dict | list) and value and not isinstance(value, str):
                fields[str(name)] = _flatten(value)
            else:
                fields[str(name)] = [str(value)]
        return fields
    if isinstance(detail, list):
        return {NON_FIELD: _flatten(detail)}
    return {NON_FIELD: [str(detail)]}


def _flatten(value, prefix: str = "") -> list[str]:
    """Nested serializer errors (a list of rows, a dict of keys) as readable lines."""
    if isinstance(value, dict):
        lines = []
        for key, inner in value.items():
            lines += _flatten(inner, f"{prefix}{key}: ")
        return lines
    if isinstance(value, list):
        lines = []
        for index, inner in enumerate(value):
            if isinstance(inner, dict):
                lines += _flatten(inner, f"{prefix}[{index}] ")
            elif isinstance(inner, list):
                lines += _flatten(inner, prefix)
            else:
                lines.append(f"{prefix}{inner}")
        return lines
    return [f"{prefix}{value}"]


def body(code: str, detail: str, fields: dict | None = None) -> dict:
    data = {"code": code, "detail": detail}
    if fields is not None:
        data["fields"] = fields
    return data


def exception_handler(exc, context):
    from segments.rules import RuleError  # the one exception type that is not Django's

    if isinstance(exc, DjangoValidationError):
        fields = field_errors(exc)
        set_rollback()
        return Response(body("invalid", _first_message(fields), fields), status=400)
    if isinstance(exc, RuleError):
        set_rollback()
        messages = [str(e) for e in exc.errors]
        return Response(body("invalid", messages[0], {"rules": messages}), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(_permission_message(exc))
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django logs it and answers 500
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        fields = _drf_fields(exc.detail)
        return Response(body("invalid", _first_message(fields), fields), 400, headers=headers)
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    if isinstance(detail, list | dict):
        detail = " ".join(_drf_fields(detail).get(NON_FIELD, [])) or str(exc.default_detail)
    return Response(body(str(code), str(detail)), status=exc.status_code, headers=headers)


def _permission_message(exc: PermissionDenied) -> str:
    reason = str(exc)
    if reason and "." in reason and " " not in reason:
        # ``require_perm`` raises with the permission's name.
        return _("Your role does not allow this (%(perm)s).") % {"perm": reason}
    return reason or _("You may not do this.")


def not_found(request, exception=None):
    """``handler404``: a JSON 404 under /api/ (a URL no endpoint matches, e.g. a
    non-numeric id), Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(body("not_found", str(_("Not found."))), status=404)
    return page_not_found(request, exception)
