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


def test_the_import_task_runs_confined_to_the_jobs_organisation(marketer, org_a, org_b):
    from django.db.models.signals import post_save

    from accounts import tenancy
    from contacts.tasks import run_import

    Contact.objects.create(organization=org_b, email="b-only@example.jp")
    data = csv_bytes([["メールアドレス", "姓"], ["a@example.jp", "山田"]])
    job = create_import_job(marketer, file_name="c.csv", data=data)
    job = set_mapping(marketer, job, mapping=job.mapping)
    execute_import(job.pk, dry_run=True)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    seen = []

    def look(sender, instance, **kwargs):
        # What the task's own queries see while it saves the job, filters forgotten.
        seen.append(
            (
                instance.status,
                tenancy.current_scope(),
                sorted(Contact.objects.values_list("email", flat=True)),
            )
        )

    post_save.connect(look, sender=ImportJob, weak=False)
    try:
        outcome = run_import(job.pk)
    finally:
        post_save.disconnect(look, sender=ImportJob)

    scope = {
        "role": tenancy.app_role(),
        "organization_id": str(org_a.pk),
        "user_id": str(marketer.user.pk),
        "cross": "off",
    }
    assert outcome == ImportStatus.DONE
    assert seen == [
        (ImportStatus.RUNNING, scope, []),
        (ImportStatus.DONE, scope, ["a@example.jp"]),
    ]
    assert tenancy.current_scope()["organization_id"] == ""
    assert Contact.objects.count() == 2


def test_the_import_task_of_a_deleted_job_does_nothing(marketer):
    from accounts import tenancy
    from contacts.tasks import run_import

    before = tenancy.current_scope()

    assert run_import(999_999) == "missing"
    assert tenancy.current_scope() == before
