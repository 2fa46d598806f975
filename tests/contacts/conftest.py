"""Helpers for the contacts tests: run imports through either engine, from real bytes."""

from __future__ import annotations

import csv
import io

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection

from contacts.enums import ImportStatus
from contacts.importing import create_import_job, execute_import, import_file, set_mapping
from contacts.importing import orm as orm_engine
from contacts.importing import postgres as postgres_engine


@pytest.fixture(params=["postgres", "orm"])
def engine(request, monkeypatch):
    """Both import engines: PostgreSQL's COPY path and the portable ORM path (SQLite's).

    Not a mock: both are the real engines, run against the real database; this only
    chooses which one the import uses, so the ORM path `make run` relies on is tested
    even though the suite runs on PostgreSQL."""
    module = postgres_engine if request.param == "postgres" else orm_engine
    monkeypatch.setattr("contacts.importing._engine", lambda: module)
    return module


def csv_bytes(rows, encoding="utf-8", delimiter=",", newline="\r\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def run_import(organization, data: bytes, *, list_name=None, dry_run=False, file_name="c.csv"):
    """The command-line door (platform operator): guessed mapping."""
    return import_file(
        organization, file_name=file_name, data=data, list_name=list_name, dry_run=dry_run
    )


def run_member_import(membership, data: bytes, *, mapping=None, contact_list=None, dry_run=False):
    """The browser door, minus HTTP: upload, mapping, dry run, (confirm and) import."""
    job = create_import_job(membership, file_name="c.csv", data=data)
    job = set_mapping(membership, job, mapping=mapping or job.mapping, contact_list=contact_list)
    job = execute_import(job.pk, dry_run=True)
    if dry_run or job.status != ImportStatus.READY:
        return job
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    return execute_import(job.pk, dry_run=False)


def report_rows(job) -> list[list[str]]:
    text = bytes(job.report_data).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))[1:]


def _close_worker_connection(**_kwargs):
    # The worker thread's own database connection: Celery's Django fixup, which closes it
    # after each task in a real worker process, is not installed by start_worker.
    connection.close()


@pytest.fixture
def celery_worker_thread(transactional_db, settings):
    """A real Celery worker (solo pool, in a thread) consuming this test's Redis database."""
    from config.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    app.control.purge()  # drop messages left by earlier runs
    task_postrun.connect(_close_worker_connection, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            yield
    finally:
        task_postrun.disconnect(_close_worker_connection)
