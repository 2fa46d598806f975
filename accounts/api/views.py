"""The base every API endpoint builds on.

``ApiView`` authenticates the bearer token, checks its scope, counts its rate, runs the
handler as the token's owner (audit entries and django-auditlog's history name them),
and answers errors through ``accounts.api.errors``. Times are answered in UTC;
``OrganizationDateTimeField`` reads a time without an offset in the organisation's zone.
Endpoints are thin: a serializer validates the input, a service does the work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.authentication import TokenAuthentication
from accounts.api.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from accounts.api.permissions import HasTokenScope
from accounts.api.throttling import TokenRateThrottle
from accounts.models import ApiIdempotentRequest
from audit.context import acting_as

IDEMPOTENCY_TTL = timezone.timedelta(hours=24)
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (1-255 printable ASCII characters, e.g. a UUID). A retry with "
        "the same key and body within 24 hours returns the first response without doing "
        "the work again; the same key with a different body is refused (422)."
    ),
)


class SafeJSONParser(JSONParser):
    """JSON, where nesting deep enough to exhaust Python's recursion is a 400 too."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class ApiView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [HasTokenScope]
    throttle_classes = [TokenRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [SafeJSONParser]
    # The scope unsafe methods need ("send" for the campaign workflow).
    write_scope = "write"

    @property
    def membership(self):
        return self.request.membership

    @property
    def django_request(self):
        return self.request._request

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._acting = contextlib.ExitStack()
        self._acting.enter_context(acting_as(request.user, request._request))

    def finalize_response(self, request, response, *args, **kwargs):
        stack = getattr(self, "_acting", None)
        if stack is not None:
            stack.close()
            self._acting = None
        return super().finalize_response(request, response, *args, **kwargs)

    # --- Idempotency -----------------------------------------------------------------

    def idempotent(self, work: Callable[[], Response]) -> Response:
        """Run ``work`` once per ``Idempotency-Key`` (see ``ApiIdempotentRequest``).

        The key, the request's hash and the response are stored in the transaction that
        does the work: a concurrent retry waits on the key's unique index and then gets
        the stored response; a failed attempt leaves nothing, so its retry runs again.
        """
        request = self.request
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return work()
        if not _KEY_RE.fullmatch(key):
            raise exceptions.ValidationError(
                {"Idempotency-Key": ["Use 1 to 255 printable ASCII characters."]}
            )
        token = request.auth
        fingerprint = _request_hash(request)
        now = timezone.now()
        with transaction.atomic():
            # Keys live 24 hours: the token's expired ones go as it makes new ones.
            ApiIdempotentRequest.objects.filter(
                token=token, created_at__lt=now - IDEMPOTENCY_TTL
            ).delete()
            stored, created = ApiIdempotentRequest.objects.get_or_create(
                token=token,
                key=key,
                defaults={
                    "organization_id": token.organization_id,
                    "method": request.method,
                    "path": request.path[:500],
                    "request_hash": fingerprint,
                    "created_at": now,
                },
            )
            if not created:
                if stored.request_hash != fingerprint:
                    raise IdempotencyKeyReused()
                if stored.status_code is None:
                    raise IdempotencyKeyInUse()
                response = Response(stored.response_body, status=stored.status_code)
                response["Idempotent-Replayed"] = "true"
                return response
            response = work()
            stored.status_code = response.status_code
            stored.response_body = json.loads(JSONRenderer().render(response.data) or b"null")
            stored.save(update_fields=["status_code", "response_body"])
        return response


def _request_hash(request) -> str:
    payload = json.dumps(
        [request.method, request.path, request.query_params.urlencode(), request.data],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class IdCursorPagination(CursorPagination):
    """Stable pages in id order (what a sync job wants): ``?cursor=`` from ``next``."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


PAGINATION_PARAMETERS = [
    OpenApiParameter(
        "cursor", OpenApiTypes.STR, OpenApiParameter.QUERY, description="From `next`/`previous`."
    ),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        description=f"1 to {IdCursorPagination.max_page_size} (default "
        f"{IdCursorPagination.page_size}).",
    ),
]
_PAGES: dict[str, type] = {}


def paginated(serializer_class) -> type:
    """The response serializer of a page of ``serializer_class`` (for the schema)."""
    name = f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List"
    if name not in _PAGES:
        _PAGES[name] = type(
            name,
            (serializers.Serializer,),
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _PAGES[name]


def paginate(view: ApiView, queryset, serializer_class, **context):
    paginator = IdCursorPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    data = serializer_class(page, many=True, context={"view": view, **context}).data
    return paginator.get_paginated_response(data)
