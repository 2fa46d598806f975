"""Helpers for the security tests."""

from __future__ import annotations

import pytest
from django.db.models import Max
from django.test import RequestFactory

from audit import alerts
from audit.models import AuditEntry


def request_from(ip: str, user_agent: str = "pytest"):
    """A request as it arrives from ``ip`` (for audit entries that carry an address)."""
    return RequestFactory().get("/", REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent)


@pytest.fixture
def evaluate():
    """Evaluate every watched entry written since the fixture was made (or since the last
    call), in the order they were written: what the worker does after each commit."""
    state = {"mark": AuditEntry.objects.aggregate(last=Max("pk"))["last"] or 0}

    def run() -> list:
        entries = list(
            AuditEntry.objects.filter(pk__gt=state["mark"])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if entries:
            state["mark"] = entries[-1]
        raised = []
        for pk in entries:
            raised.extend(alerts.evaluate_entry(pk))
        return raised

    return run
