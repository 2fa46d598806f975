"""A marketer builds a two-group segment in a real browser and watches the count change.

Playwright drives Debian's chromium (launched by path, as in tests/e2e/conftest.py);
``DJANGO_ALLOW_ASYNC_UNSAFE`` lets the test touch the database between browser steps
(Playwright's sync API runs an event loop in the test thread).
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.enums import Role
from contacts.enums import ContactStatus, FieldType
from segments.models import Segment
from tests.factories import login_verified, make_member, make_organization
from tests.segments.factories import make_contact, make_field, make_tag

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/e2e-segments.png"  # noqa: S108 - a file for people to look at, like tests/e2e


@pytest.fixture
def shop(db):
    organization = make_organization("demo", name="Demo Shop")
    marketer = make_member(organization, Role.MARKETER, "marketer@demo.example")
    make_field(organization, "score", FieldType.NUMBER, label="Score")
    vip = make_tag(organization, "VIP")
    make_contact(organization, "a@docomo.ne.jp", attributes={"score": 80}, tags=[vip])
    make_contact(organization, "b@ezweb.ne.jp", attributes={"score": 90})
    make_contact(organization, "c@example.jp", attributes={"score": 70})
    make_contact(organization, "d@docomo.ne.jp", attributes={"score": 10})
    make_contact(organization, "e@example.jp")
    make_contact(
        organization, "f@docomo.ne.jp", attributes={"score": 60}, status=ContactStatus.UNSUBSCRIBED
    )
    return organization, marketer


@pytest.fixture
def page(browser, live_server, shop):
    _organization, marketer = shop
    client = Client()
    login_verified(client, marketer.user)
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _wait_for_count(page, count: int) -> None:
    page.wait_for_selector(f'[data-testid=segment-count][data-count="{count}"]')


def _htmx_settled(page) -> None:
    """Wait until htmx has no request in flight and has wired what it swapped in: htmx 2
    processes new content in its settle step (``htmx-added`` is removed then), so a
    select swapped in a moment ago sends nothing when changed before that (a person is
    never that quick; a test is, which made this test fail now and then)."""
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def _fill(page, field: str, text: str) -> None:
    """Type into a field of the rebuilt tree once htmx has wired it (see above)."""
    _htmx_settled(page)
    page.fill(field, text)


def _click(page, button: str) -> None:
    _htmx_settled(page)
    page.click(button)


def _choose(page, select: str, value: str) -> None:
    """Pick an option that rebuilds the rules, and wait until the rebuilt tree shows it."""
    _htmx_settled(page)
    page.select_option(select, value)
    page.wait_for_selector(f'{select} option[value="{value}"][selected]', state="attached")


def test_marketer_builds_a_two_group_segment_and_watches_the_count(page, shop):
    organization, _marketer = shop
    problems = []

    def console(message):
        # The browser asks for /favicon.ico on its own; the app serves none (yet).
        url = message.location.get("url", "")
        if message.type == "error" and not url.endswith("/favicon.ico"):
            problems.append(f"{message.text} {url}")

    # CSP violations and failed requests (htmx or static files) show up here.
    page.on("console", console)
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))

    page.goto("/o/demo/")
    page.click("nav.mainnav a[href='/o/demo/segments/']")
    page.click("[data-testid=segment-new]")
    page.wait_for_url(re.compile(r"/o/demo/segments/new/$"))
    assert page.get_by_test_id("segment-problem").inner_text() == "Condition 1: choose a field."
    page.fill("#id_name", "Keen mobile users")

    # Condition 1: Score > 50 -> a, b, c (f is unsubscribed, e has no score).
    _choose(page, "#n_1-field", "attr:score")
    _choose(page, "#n_1-op", "gt")
    _fill(page, "#n_1-value", "50")
    _wait_for_count(page, 3)

    # Group 2 (any of): the domain is docomo.ne.jp -> a.
    _click(page, "[data-testid=add-group-n]")
    page.wait_for_selector("#n_2_1-field")
    assert page.locator("#n_2-match").input_value() == "any"
    _choose(page, "#n_2_1-field", "email_domain")
    _fill(page, "#n_2_1-value", "docomo.ne.jp")
    _wait_for_count(page, 1)

    # ... or ezweb.ne.jp -> a, b.
    _click(page, "[data-testid=add-condition-n_2]")
    page.wait_for_selector("#n_2_2-field")
    _choose(page, "#n_2_2-field", "email_domain")
    _fill(page, "#n_2_2-value", "ezweb.ne.jp")
    _wait_for_count(page, 2)
    assert page.locator(".errorlist").all_inner_texts() == []  # no stale "enter a value."
    sample = page.get_by_test_id("segment-sample").locator("tbody td:first-child").all_inner_texts()
    assert sample == ["b@ezweb.ne.jp", "a@docomo.ne.jp"]

    # Group 2 with "all of": nobody has two domains at once.
    _htmx_settled(page)
    page.select_option("#n_2-match", "all")
    _wait_for_count(page, 0)
    _htmx_settled(page)
    page.select_option("#n_2-match", "any")
    _wait_for_count(page, 2)
    page.screenshot(path=SCREENSHOT, full_page=True)

    _click(page, "[data-testid=segment-save]")
    page.wait_for_url(re.compile(r"/o/demo/segments/\d+/$"))
    _wait_for_count(page, 2)

    segment = Segment.objects.get(organization=organization)
    assert segment.name == "Keen mobile users"
    assert segment.rules == {
        "match": "all",
        "rules": [
            {"field": "attr:score", "op": "gt", "value": 50},
            {
                "match": "any",
                "rules": [
                    {"field": "email_domain", "op": "eq", "value": "docomo.ne.jp"},
                    {"field": "email_domain", "op": "eq", "value": "ezweb.ne.jp"},
                ],
            },
        ],
    }
    assert problems == []
