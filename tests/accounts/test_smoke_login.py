import pytest


@pytest.mark.django_db
def test_dashboard_renders_for_admin(admin_client, org_a):
    response = admin_client.get(f"/o/{org_a.slug}/")
    assert response.status_code == 200
    assert b"Organisation A" in response.content
