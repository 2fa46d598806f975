"""``Authorization: Bearer tyr_<prefix>_<secret>``: the only way into the API.

Sessions are not accepted (a browser's cookie must not turn into API access, and the API
then needs no CSRF protection). A successful check sets ``request.membership`` and
``request.organization`` to the token owner's *current* membership of the token's
organisation; the organisation's IP allow-list applies as on the pages.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts import tenancy, tokens
from accounts.api import schema  # noqa: F401 - registers the bearer scheme with drf-spectacular


class TokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <token>'.")
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed token.") from None
        try:
            token, membership = tokens.authenticate(raw)
        except tokens.TokenRefused as refused:
            raise exceptions.AuthenticationFailed(str(refused)) from None
        django_request = request._request
        try:
            tokens.refuse_if_outside_allowlist(membership, django_request)
        except PermissionDenied:
            raise exceptions.PermissionDenied(
                "Requests from this address are not allowed by the organisation's IP allow-list."
            ) from None
        tokens.note_use(token, django_request)
        for target in (request, django_request):
            target.membership = membership
            target.organization = membership.organization
            target.api_token = token
        # PostgreSQL confines the rest of the request to the token's organisation
        # (accounts.tenancy); ActivityMiddleware leaves the scope when the request ends.
        tenancy.scope_request(django_request, membership.organization, membership.user)
        return membership.user, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
