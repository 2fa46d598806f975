"""Token scopes: ``read`` for GET, ``write`` for changes and imports, ``send`` for the
campaign workflow. A view names the scope of an unsafe method with ``write_scope``
(default ``write``); the role's permissions are then checked by the services, so a token
can never do more than its owner could in the browser.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiToken


def required_scope(request, view) -> str:
    if request.method in SAFE_METHODS:
        return "read"
    return getattr(view, "write_scope", "write")


class HasTokenScope(BasePermission):
    code = "insufficient_scope"

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        scope = required_scope(request, view)
        if token.has_scope(scope):
            return True
        self.message = f"This token lacks the '{scope}' scope."
        return False
