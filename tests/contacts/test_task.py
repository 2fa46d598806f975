"""The import runs in a real Celery worker (Redis broker), exactly as in production."""

from __future__ import annotations

import time

import pytest

from contacts.enums import ImportStatus
from contacts.importing import confirm_import, create_import_job, execute_import, set_mapping
from contacts.models import Contact, ImportJob
from tests.contacts.conftest import csv_bytes


@pytest.mark.slow
def test_a_confirmed_import_is_run_by_the_worker(celery_worker_thread, marketer, org_a):
    data = csv_bytes([["メールアドレス", "姓"], ["a@example.jp", "山田"], ["b@example.jp", "鈴木"]])
    job = create_import_job(marketer, file_name="c.csv", data=data)
    job = set_mapping(marketer, job, mapping=job.mapping)
    execute_import(job.pk, dry_run=True)
    confirm_import(marketer, job)  # commits at once (no surrounding transaction): task sent

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job.pk)
        if job.status in {ImportStatus.DONE, ImportStatus.FAILED}:
            break
        time.sleep(0.2)
    assert job.status == ImportStatus.DONE, job.error
    assert job.counts["created"] == 2
    assert sorted(Contact.objects.values_list("last_name", flat=True)) == ["山田", "鈴木"]
