"""What each role may do inside its organisation.

Permissions are organisation-scoped capability names (``"area.verb"``), not Django's
global permissions: a person can be admin in one organisation and viewer in another.
django-guardian holds the object-level grants on top (see ``accounts.access``).
"""

from __future__ import annotations

from accounts.enums import Role

# Everyone who belongs to an organisation.
_MEMBER = {
    "org.view",
    "campaigns.view",
    "reports.view",
}
_MARKETING = {
    "contacts.view",
    "contacts.edit",
    "contacts.import",
    "contacts.export",
    "segments.view",
    "segments.edit",
    "campaigns.edit",
    "campaigns.submit",
    "campaigns.test_send",
    "tokens.manage",
}
_APPROVING = {
    "contacts.view",
    "segments.view",
    "campaigns.approve",
}
_ADMINISTERING = {
    "members.view",
    "members.manage",
    "org.manage",
    "audit.view",
    "audit.export",
    "suppressions.lift",
    "domains.manage",
    "relays.manage",
    "grants.manage",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(_MEMBER | _MARKETING | _APPROVING | _ADMINISTERING),
    Role.MARKETER: frozenset(_MEMBER | _MARKETING),
    Role.APPROVER: frozenset(_MEMBER | _APPROVING),
    Role.VIEWER: frozenset(_MEMBER),
}

ALL_PERMISSIONS: frozenset[str] = frozenset().union(*ROLE_PERMISSIONS.values())

# Roles whose members must always use two-factor authentication.
ROLES_REQUIRING_2FA = frozenset({Role.ADMIN, Role.APPROVER})
