"""Personas: admin, marketer, approver and viewer of organisation A; an outsider who is
admin of organisation B. Clients are logged in (with 2FA verified where the role needs it)."""

from __future__ import annotations

import os
import shutil

import pytest
from django.test import Client

from accounts.enums import Role
from tests.factories import login_verified, make_member, make_organization


@pytest.fixture(scope="session")
def dev_tls(tmp_path_factory):
    """The development CA and a server certificate for 127.0.0.1, made once per session."""
    from delivery.tls import ensure_dev_tls

    return ensure_dev_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def foreign_tls(tmp_path_factory):
    """Material of the same shape from another CA, which nothing trusts."""
    from delivery.tls import ensure_dev_tls

    return ensure_dev_tls(tmp_path_factory.mktemp("foreign-tls"))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """A request in Japanese activates Japanese for this thread (LocaleMiddleware does not
    switch back after the response, and the test client runs in the test's thread): each
    test starts and ends in the default language, whatever the one before it asked for."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def org_a(db):
    return make_organization("org-a", name="Organisation A")


@pytest.fixture
def org_b(db):
    return make_organization("org-b", name="Organisation B")


@pytest.fixture
def admin(org_a):
    return make_member(org_a, Role.ADMIN, "admin@a.example")


@pytest.fixture
def marketer(org_a):
    return make_member(org_a, Role.MARKETER, "marketer@a.example")


@pytest.fixture
def approver(org_a):
    return make_member(org_a, Role.APPROVER, "approver@a.example")


@pytest.fixture
def viewer(org_a):
    return make_member(org_a, Role.VIEWER, "viewer@a.example")


@pytest.fixture
def outsider(org_b):
    return make_member(org_b, Role.ADMIN, "outsider@b.example")


def _client_for(membership) -> Client:
    client = Client()
    login_verified(client, membership.user)
    return client


@pytest.fixture
def admin_client(admin):
    return _client_for(admin)


@pytest.fixture
def marketer_client(marketer):
    return _client_for(marketer)


@pytest.fixture
def approver_client(approver):
    return _client_for(approver)


@pytest.fixture
def viewer_client(viewer):
    return _client_for(viewer)


@pytest.fixture
def outsider_client(outsider):
    return _client_for(outsider)


# --- The real browser (Playwright driving Debian's chromium) ----------------------------
# One launch recipe for every browser test. Playwright cannot download its own browsers
# here, so it drives /usr/bin/chromium; the flags keep chromium off the (closed) network.
# While the browser is open, DJANGO_ALLOW_ASYNC_UNSAFE lets the test touch the database
# between browser steps (Playwright's sync API runs an event loop in the test thread).

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM} (install Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before
