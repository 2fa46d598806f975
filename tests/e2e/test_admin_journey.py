"""An organisation admin's first visit, in a real browser: log in, set up two-factor,
switch to Japanese, invite a marketer."""

from __future__ import annotations

import base64
import re

import pytest
from django.core import mail
from django_otp.oath import TOTP

from accounts.enums import Role
from accounts.models import Invitation
from tests.factories import PASSWORD, make_member, make_organization

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A fixed, well-known place so a reviewer can look at the page after a run.
SCREENSHOT = "/tmp/e2e-members.png"  # noqa: S108 - a screenshot, not a secret; shared on purpose


def _code_for(secret: str) -> str:
    """What an authenticator app shows for the key printed on the set-up page."""
    totp = TOTP(base64.b32decode(secret), step=30, t0=0, digits=6, drift=0)
    return f"{totp.token():06d}"


def test_admin_journey_from_login_to_invitation(page, live_server):
    organization = make_organization("demo", name="Demo Shop")
    make_member(organization, Role.ADMIN, "admin@demo.example")

    # Password first: an admin without two-factor is sent to set it up.
    page.goto("/login/")
    page.fill("#id_username", "admin@demo.example")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/account/2fa/setup/\?next=/o/demo/$"))

    # Type the key shown on the page into "the phone", and its code back into the page.
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]+=*", secret)
    page.fill("#id_token", _code_for(secret))
    page.click("main button[type=submit]")
    codes = page.get_by_test_id("recovery-codes").locator("li")
    assert codes.count() == 10
    page.click("a.button")
    page.wait_for_url(re.compile(r"/o/demo/$"))
    assert page.locator("h1").inner_text() == "Demo Shop"

    # The language switcher.
    page.get_by_test_id("lang-ja").click()
    page.wait_for_selector("html[lang=ja]")
    assert page.url.endswith("/o/demo/")
    html_lang = page.locator("html").get_attribute("lang")
    # Needs the compiled Japanese catalogue (locale/ja/LC_MESSAGES/django.mo).
    japanese_nav = "ダッシュボード" in page.locator("nav.mainnav").inner_text()

    # Members: invite a marketer.
    page.click("nav.mainnav a[href='/o/demo/members/']")
    page.wait_for_url(re.compile(r"/o/demo/members/$"))
    page.fill("#id_email", "new.marketer@demo.example")
    page.select_option("#id_role", "marketer")
    page.click("form[action='/o/demo/members/invite/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/o/demo/members/$"))
    open_invitations = page.locator("form[action$='/revoke/']").locator("xpath=ancestor::tr")
    assert open_invitations.count() == 1
    assert open_invitations.first.locator("td").first.inner_text() == "new.marketer@demo.example"
    page.screenshot(path=SCREENSHOT, full_page=True)

    invitation = Invitation.objects.get(organization=organization)
    assert (invitation.email, invitation.role, invitation.invited_by.email) == (
        "new.marketer@demo.example",
        "marketer",
        "admin@demo.example",
    )
    assert invitation.is_open
    assert [message.to for message in mail.outbox] == [["new.marketer@demo.example"]]
    assert "/invitations/" in mail.outbox[0].body

    assert html_lang == "ja"
    assert japanese_nav, "the navigation is not in Japanese: is locale/ja compiled?"
