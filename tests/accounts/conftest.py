from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def password_client():
    """A client logged in with the password only (no second factor yet)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user, backend=MODEL_BACKEND)
        return client

    return make


@pytest.fixture
def audit_actions():
    """The actions written to an organisation's audit log, oldest first."""

    def actions(organization) -> list[str]:
        return list(
            AuditEntry.objects.for_organization(organization)
            .order_by("seq")
            .values_list("action", flat=True)
        )

    return actions
