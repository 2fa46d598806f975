"""Real-browser tests: Playwright's sync API driving Debian's chromium.

``playwright install`` cannot download browsers here, so the system chromium is launched
by path (``CHROMIUM`` overrides it). Playwright's sync API runs an event loop in the test
thread; Django refuses ORM calls from a thread with a running loop unless
``DJANGO_ALLOW_ASYNC_UNSAFE`` is set. The tests only touch the database between browser
steps, never concurrently with them, so that is safe here; the variable is set only while
a browser is open (one per test module), so the rest of the suite keeps Django's check.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
