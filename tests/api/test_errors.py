"""Rate limits, and the error shape for input the API cannot use: never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import api_for


def test_over_the_rate_limit_is_429_with_retry_after(marketer, settings):
    settings.API_RATE_LIMITS = {"read": "3/min", "write": "2/min"}
    api = api_for(marketer)

    reads = [api.get("contacts/").status_code for _ in range(4)]
    writes = [api.post("lists/", {"name": f"L{n}"}).status_code for n in range(3)]

    assert reads == [200, 200, 200, 429]
    assert writes == [201, 201, 429]
    response = api.get("contacts/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"


def test_rate_limits_are_per_token(marketer, settings):
    settings.API_RATE_LIMITS = {"read": "1/min", "write": "1/min"}
    one, two = api_for(marketer), api_for(marketer)

    assert one.get("contacts/").status_code == 200
    assert one.get("contacts/").status_code == 429
    assert two.get("contacts/").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2",
        '"just a string"',
        "[" * 5000 + "]" * 5000,
        '{"email": "a\\u0000b@example.jp"}',
        '{"email": 12}',
        '{"email": "x@example.jp", "lists": [99999999999999999999999]}',
        '{"email": "x@example.jp", "attributes": {"k": {"deep": [1]}}}',
    ],
)
def test_bad_bodies_are_400(marketer_api, body):
    response = marketer_api.client.post(
        "/api/v1/contacts/", body, content_type="application/json", headers=marketer_api._headers()
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"parse_error", "invalid"}


@pytest.mark.parametrize(
    "path",
    [
        "contacts/99999999999999999999/",
        "campaigns/9223372036854775807/",
        "segments/0/",
        "contacts/?list=99999999999999999999",
        "contacts/?updated_since=yesterday",
        "contacts/?cursor=bogus",
        "segments/1/sample/?n=100000",
    ],
)
def test_odd_urls_are_4xx(marketer_api, path):
    response = marketer_api.get(path)

    assert 400 <= response.status_code < 500


def test_other_content_types_are_415(marketer_api):
    response = marketer_api.client.post(
        "/api/v1/contacts/",
        "email=a@example.jp",
        content_type="application/x-www-form-urlencoded",
        headers=marketer_api._headers(),
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_rules_that_do_not_compile_are_400_on_rules(marketer_api):
    response = marketer_api.post(
        "segments/", {"name": "Bad", "rules": {"match": "all", "rules": [{"field": "nope"}]}}
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["rules"]


def test_the_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert schema.status_code == 200
    assert b"bearerAuth" in schema.content
    page = docs.content.decode()
    assert docs.status_code == 200
    assert "<script>" not in page and "<style>" not in page
    assert "//cdn" not in page and "https://" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "script-src 'self'" in docs["Content-Security-Policy"]
