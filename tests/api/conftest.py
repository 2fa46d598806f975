"""API fixtures on top of the shared personas (tests/conftest.py): tokens and clients.

``api_for(membership, scopes)`` makes a token the way the tokens page does (the service),
or directly for a role that may not make tokens (an approver or viewer whose token
was made before their role changed). ``Api`` is a test client that sends the bearer
token and JSON. Rate counters are keyed by the token's random prefix, so every test's
tokens start with a fresh budget (the cache is not cleared: other tests keep keys there).
"""

from __future__ import annotations

import datetime
import json
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.access import has_perm
from accounts.models import ApiToken
from campaigns import hooks
from campaigns.models import SenderProfile
from tests.campaigns.conftest import FOOTER, make_contact, make_list, verified

ALL_SCOPES = ("read", "write", "send")


class Api:
    """A client for ``/api/v1/`` that authenticates with one token."""

    def __init__(self, secret: str | None, token: ApiToken | None = None):
        self.secret = secret
        self.token = token
        self.client = Client()

    def _headers(self, headers=None) -> dict:
        result = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        result.update(headers or {})
        return result

    @staticmethod
    def url(path: str) -> str:
        if path.startswith("http"):  # a "next" link
            parts = urlsplit(path)
            return f"{parts.path}?{parts.query}"
        return path if path.startswith("/") else f"/api/v1/{path}"

    def get(self, path: str, params=None, headers=None):
        return self.client.get(self.url(path), params or {}, headers=self._headers(headers))

    def _send(self, method: str, path: str, data=None, headers=None):
        body = json.dumps(data) if data is not None else ""
        return getattr(self.client, method)(
            self.url(path),
            body,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def post(self, path, data=None, headers=None):
        return self._send("post", path, data, headers)

    def patch(self, path, data=None, headers=None):
        return self._send("patch", path, data, headers)

    def delete(self, path, headers=None):
        return self._send("delete", path, None, headers)


def make_token(membership, scopes=ALL_SCOPES, **fields) -> tuple[ApiToken, str]:
    """A token for ``membership``: through the service when its role may make one."""
    if has_perm(membership, "tokens.manage") and not fields:
        return tokens.create_token(membership, name="Sync", scopes=list(scopes))
    prefix = tokens._new_prefix()
    secret = "S" * tokens.SECRET_LENGTH
    now = timezone.now()
    token = ApiToken.objects.create(
        organization=membership.organization,
        user=membership.user,
        name=fields.pop("name", "Sync"),
        prefix=prefix,
        token_hash=tokens.hash_secret(secret),
        scopes=list(scopes),
        expires_at=fields.pop("expires_at", now + datetime.timedelta(days=30)),
        **fields,
    )
    return token, f"tyr_{prefix}_{secret}"


def api_for(membership, scopes=ALL_SCOPES, **fields) -> Api:
    token, secret = make_token(membership, scopes, **fields)
    return Api(secret, token)


@pytest.fixture
def marketer_api(marketer):
    return api_for(marketer)


@pytest.fixture
def admin_api(admin):
    return api_for(admin)


@pytest.fixture
def outsider_api(outsider):
    return api_for(outsider)


@pytest.fixture
def anonymous_api():
    return Api(None)


@pytest.fixture
def profile(org_a):
    profile = SenderProfile.for_organization(org_a)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.test_addresses = "qa@shop.example"
    profile.save()
    return profile


@pytest.fixture
def customers(org_a):
    contact_list = make_list(org_a)
    make_contact(org_a, "yamada@example.jp", contact_list, last_name="山田", first_name="太郎")
    make_contact(org_a, "sato@example.jp", contact_list, last_name="佐藤", first_name="花子")
    return contact_list


@pytest.fixture
def verified_domain():
    """Delivery's domain checker, standing in: every From domain verified."""
    with hooks.registered(domain_checker=verified):
        yield
