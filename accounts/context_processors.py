from __future__ import annotations

from accounts.roles import ROLE_PERMISSIONS


def navigation(request):
    """The current organisation, the member's permissions and their other organisations."""
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    memberships = []
    if user is not None and user.is_authenticated:
        memberships = list(
            user.memberships.filter(is_active=True, organization__is_active=True)
            .select_related("organization")
            .order_by("organization__name")
        )
    return {
        "current_org": getattr(request, "organization", None),
        "current_membership": membership,
        "perms_in_org": ROLE_PERMISSIONS.get(membership.role, frozenset()) if membership else (),
        "my_memberships": memberships,
    }
