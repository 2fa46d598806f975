"""Which address a request comes from (``accounts.net.client_ip``), as the IP allow-list,
the audit log and the login lockout all read it."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry

PROXY = "10.0.0.7"


@pytest.fixture
def office_only(org_a):
    org_a.ip_allowlist = "203.0.113.0/24"
    org_a.save()
    return org_a


def _refusal_ips(organization) -> list[str]:
    return list(
        AuditEntry.objects.for_organization(organization)
        .filter(action="ip_refused")
        .values_list("ip", flat=True)
    )


def test_client_address_is_rightmost_forwarded_entry_behind_one_proxy(
    settings, admin_client, office_only
):
    settings.TRUSTED_PROXY_COUNT = 1

    response = admin_client.get(
        "/o/org-a/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.5"
    )

    assert response.status_code == 200
    assert _refusal_ips(office_only) == []


def test_client_address_ignores_spoofed_left_part_behind_one_proxy(
    settings, admin_client, office_only
):
    settings.TRUSTED_PROXY_COUNT = 1

    # The client wrote the office address itself; our proxy appended the real one.
    response = admin_client.get(
        "/o/org-a/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.9"
    )

    assert response.status_code == 403
    assert _refusal_ips(office_only) == ["198.51.100.9"]


def test_client_address_ignores_forwarded_header_without_trusted_proxy(
    settings, admin_client, office_only
):
    settings.TRUSTED_PROXY_COUNT = 0

    response = admin_client.get(
        "/o/org-a/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.5"
    )

    assert response.status_code == 403
    assert _refusal_ips(office_only) == ["198.51.100.9"]


def test_client_address_falls_back_to_proxy_on_garbage_header(settings, admin_client, org_a):
    settings.TRUSTED_PROXY_COUNT = 1
    org_a.ip_allowlist = PROXY
    org_a.save()

    response = admin_client.get("/o/org-a/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="not-an-ip")

    assert response.status_code == 200


def test_failed_login_is_recorded_with_rightmost_forwarded_address(settings, client, admin):
    settings.TRUSTED_PROXY_COUNT = 1

    client.post(
        "/login/",
        {"username": "admin@a.example", "password": "wrong"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.9",
    )

    entry = AuditEntry.objects.get(action="login_failed")
    assert entry.ip == "198.51.100.9"
    assert entry.organization == admin.organization
