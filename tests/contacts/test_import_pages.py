"""The browser import: upload -> preview -> mapping -> dry run -> confirm -> report."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from contacts.enums import ImportStatus
from contacts.importing import execute_import
from contacts.models import Contact, ContactList, ImportJob
from tests.contacts.conftest import csv_bytes

pytestmark = pytest.mark.django_db


def _url(name, org, *args):
    return reverse(f"contacts:{name}", args=[org.slug, *args])


def _upload(client, org, data, name="顧客リスト.csv"):
    return client.post(_url("imports", org), {"file": SimpleUploadedFile(name, data)})


def _form_data(client, url, **overrides):
    form = client.get(url).context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = "on" if value is True else value
    data.update(overrides)
    return data


def test_the_whole_browser_import(marketer_client, org_a, django_capture_on_commit_callbacks):
    data = csv_bytes(
        [
            ["メールアドレス", "氏名", "会社名", "メモ"],
            ["taro@example.jp", "髙橋 太郎", "㈱テスト①", "x"],
            ["broken", "壊れた 行", "", ""],
            ["TARO@example.jp", "", "㈱テスト②", ""],
        ],
        encoding="cp932",
    )
    response = _upload(marketer_client, org_a, data)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == _url("import_detail", org_a, job.pk)

    page = marketer_client.get(response.url)
    body = page.content.decode()
    assert "read as cp932" in body
    assert "髙橋 太郎" in body and "㈱テスト①" in body  # the preview, decoded
    form = page.context["form"]
    assert [form[f"col_{i}"].value() for i in range(4)] == ["email", "full_name", "company", ""]

    response = marketer_client.post(
        response.url, _form_data(marketer_client, response.url, new_list="展示会 2024")
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.READY
    assert job.dry_run_counts["created"] == 1
    assert job.dry_run_counts["rejected"] == 1
    assert job.dry_run_counts["merged"] == 1
    assert not Contact.objects.exists()
    page = marketer_client.get(response.url)
    assert b'data-testid="dry-run-created">1<' in page.content

    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(_url("import_confirm", org_a, job.pk))
    assert response.status_code == 302
    assert len(callbacks) == 1  # the Celery task is sent once the transaction commits
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    progress = marketer_client.get(_url("import_progress", org_a, job.pk), HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in progress.content
    assert "HX-Refresh" not in progress

    execute_import(job.pk, dry_run=False)  # what the worker does (tests/contacts/test_task.py)
    progress = marketer_client.get(_url("import_progress", org_a, job.pk), HTTP_HX_REQUEST="true")
    assert progress["HX-Refresh"] == "true"
    contact = Contact.objects.get()
    assert (contact.email, contact.last_name, contact.first_name, contact.company) == (
        "TARO@example.jp",
        "髙橋",
        "太郎",
        "㈱テスト②",
    )
    assert list(ContactList.objects.get(name="展示会 2024").contacts.all()) == [contact]

    report = marketer_client.get(_url("import_report", org_a, job.pk))
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert "report.csv" in report["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0] == ["Line", "Result", "E-mail address", "Column", "Value", "Message"]
    assert [r[:2] for r in rows[1:]] == [["3", "rejected"], ["4", "merged"]]


def test_an_upload_without_an_email_column_is_refused_and_nothing_is_stored(marketer_client, org_a):
    data = csv_bytes([["氏名", "電話番号"], ["山田", "03-0000-0000"]], encoding="cp932")
    response = _upload(marketer_client, org_a, data)
    assert response.status_code == 400
    assert (
        "The file has no e-mail address column. Columns found: “氏名”, “電話番号”."
        in response.content.decode()
    )
    assert not ImportJob.objects.exists()


def test_an_empty_or_undecodable_upload_is_refused(marketer_client, org_a):
    assert _upload(marketer_client, org_a, b"\r\n\r\n").status_code == 400
    response = _upload(marketer_client, org_a, bytes(range(128, 256)) * 50)
    assert response.status_code == 400
    assert not ImportJob.objects.exists()


def test_the_mapping_can_be_changed_and_must_name_one_email_column(marketer_client, org_a):
    data = csv_bytes([["連絡先", "備考"], ["a@example.jp", "山田"]])
    response = _upload(marketer_client, org_a, data)
    url = response.url
    response = marketer_client.post(
        url, _form_data(marketer_client, url, col_0="", new_list="Not created")
    )
    assert response.status_code == 400
    assert "Columns found: “連絡先”, “備考”." in response.content.decode()
    assert not ContactList.objects.exists()
    response = marketer_client.post(
        url, _form_data(marketer_client, url, col_0="email", col_1="email")
    )
    assert response.status_code == 400
    assert "Two columns are mapped to the same field." in response.content.decode()
    response = marketer_client.post(
        url, _form_data(marketer_client, url, col_0="email", col_1="last_name")
    )
    assert response.status_code == 302
    assert ImportJob.objects.get().dry_run_counts["created"] == 1


def test_a_wrong_guess_of_encoding_can_be_corrected_in_the_preview(marketer_client, org_a):
    data = ("email,name\n" + "a@example.jp,ﾃｽﾄ\n").encode("cp932")
    response = _upload(marketer_client, org_a, data)
    url = response.url
    response = marketer_client.post(
        url, _form_data(marketer_client, url, encoding="utf-8", preview="1")
    )
    assert response.status_code == 400
    assert "cannot be read as utf-8" in response.content.decode()


def test_confirming_before_the_dry_run_is_refused(marketer_client, org_a):
    response = _upload(marketer_client, org_a, csv_bytes([["email"], ["a@example.jp"]]))
    job = ImportJob.objects.get()
    marketer_client.post(_url("import_confirm", org_a, job.pk))
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED
    page = marketer_client.get(response.url)
    assert b"Run the dry run first" in page.content


def test_a_lost_import_can_be_started_again(
    marketer_client, org_a, django_capture_on_commit_callbacks
):
    from contacts import importing
    from contacts.importing import is_stuck
    from contacts.importing.plan import Progress

    _upload(marketer_client, org_a, csv_bytes([["email"], ["a@example.jp"]]))
    job = ImportJob.objects.get()
    url = _url("import_detail", org_a, job.pk)
    marketer_client.post(url, _form_data(marketer_client, url))
    marketer_client.post(_url("import_confirm", org_a, job.pk))
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert not is_stuck(job)
    response = marketer_client.post(_url("import_requeue", org_a, job.pk))
    assert [str(m) for m in response.wsgi_request._messages] == [
        "This import is not stuck; it is still being worked on."
    ]

    # The task was lost: its last sign of life (progress in the cache, else the job's
    # start or creation) is older than STUCK_AFTER.
    long_ago = timezone.now() - timedelta(seconds=importing.STUCK_AFTER + 60)
    ImportJob.objects.filter(pk=job.pk).update(created_at=long_ago)
    ImportJob.objects.filter(pk=job.pk, started_at__isnull=False).update(started_at=long_ago)
    progress = cache.get(Progress.cache_key(job.pk))
    if progress is not None:
        cache.set(Progress.cache_key(job.pk), {**progress, "at": long_ago.timestamp()})
    job.refresh_from_db()
    assert is_stuck(job)
    assert b"Start it again" in marketer_client.get(url).content
    with django_capture_on_commit_callbacks() as callbacks:
        marketer_client.post(_url("import_requeue", org_a, job.pk))
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    execute_import(job.pk, dry_run=False)
    execute_import(job.pk, dry_run=False)  # the original task turning up late
    job.refresh_from_db()
    assert (job.status, job.counts["created"]) == (ImportStatus.DONE, 1)
    assert Contact.objects.count() == 1
