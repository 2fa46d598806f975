"""Thin Celery wrappers around the contacts services."""

from __future__ import annotations

from celery import shared_task

from contacts.importing import execute_import


@shared_task(name="contacts.run_import", acks_late=True)
def run_import(job_id: int, dry_run: bool = False) -> str:
    """Run an import job (or its dry run). The outcome is stored on the job; an import
    is all or nothing, so a redelivered task simply runs it again (``execute_import``
    returns at once for a job that already committed)."""
    job = execute_import(job_id, dry_run=dry_run)
    return job.status if job is not None else "missing"
