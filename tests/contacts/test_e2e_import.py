"""Real browser: upload a CP932 file, map a column, read the dry-run counts, import (in a
real Celery worker, watching the htmx progress), download the rejected-rows report."""

from __future__ import annotations

import csv
import io

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.enums import Role
from contacts import services
from contacts.enums import FieldType
from contacts.models import Contact, ContactList
from tests.contacts.conftest import csv_bytes
from tests.factories import make_member


@pytest.fixture
def browser_page(live_server, browser):
    context = browser.new_context(accept_downloads=True, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield context, page
    finally:
        # While Playwright's loop runs, the test's queries use a second Django
        # connection (asgiref's context-local storage); close it, or the test
        # database cannot be dropped at the end of the run.
        connection.close()
        context.close()


def _log_in(context, live_server, user):
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_browser_import_of_a_cp932_file(live_server, browser_page, celery_worker_thread, tmp_path):
    from accounts.models import Organization

    org = Organization.objects.create(name="E2E", slug="e2e")
    admin = make_member(org, Role.ADMIN, "admin@e2e.example")
    marketer = make_member(org, Role.MARKETER, "marketer@e2e.example")
    services.create_custom_field(admin, key="dept", label="Department", field_type=FieldType.TEXT)
    data = csv_bytes(
        [
            ["メールアドレス", "氏名", "会社名", "部署"],
            ["takahashi@example.jp", "髙橋 一郎", "㈱テスト①", "営業部"],
            ["not-an-address", "山田 花子", "", "総務部"],
            ["suzuki@例え.jp", "鈴木 次郎", "有限会社サンプル", ""],
        ],
        encoding="cp932",
    )
    context, page = browser_page
    _log_in(context, live_server, marketer.user)

    page.goto(f"{live_server.url}/o/e2e/contacts/imports/")
    page.set_input_files(
        "input[type=file]",
        files=[{"name": "展示会リスト.csv", "mimeType": "text/csv", "buffer": data}],
    )
    page.get_by_role("button", name="Upload").click()

    preview = page.get_by_test_id("preview")
    assert "髙橋 一郎" in preview.inner_text()
    assert "㈱テスト①" in preview.inner_text()
    assert "read as cp932" in page.content()
    # The 部署 column is not guessed: map it by hand to the custom field.
    page.get_by_label("部署").select_option("attr:dept")
    page.get_by_label("or a new list named").fill("展示会")
    page.get_by_test_id("dry-run").click()

    assert page.get_by_test_id("dry-run-created").inner_text() == "2"
    assert page.get_by_test_id("dry-run-rejected").inner_text() == "1"
    assert page.get_by_test_id("dry-run-rows").inner_text() == "3"
    assert Contact.objects.count() == 0

    page.get_by_test_id("confirm-import").click()
    # The htmx fragment polls every second and reloads the page when the worker is done.
    page.get_by_test_id("result-created").wait_for()
    assert page.get_by_test_id("result-created").inner_text() == "2"
    assert page.get_by_test_id("result-rejected").inner_text() == "1"

    with page.expect_download() as download_info:
        page.get_by_test_id("report-link").click()
    path = tmp_path / "report.csv"
    download_info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows[1][:5] == ["3", "rejected", "", "メールアドレス", "not-an-address"]

    contact = Contact.objects.get(email="takahashi@example.jp")
    assert (contact.last_name, contact.company, contact.attributes) == (
        "髙橋",
        "㈱テスト①",
        {"dept": "営業部"},
    )
    assert Contact.objects.filter(email="suzuki@xn--r8jz45g.jp").exists()
    assert ContactList.objects.get(name="展示会").contacts.count() == 2
