"""Thin Celery wrappers around the contacts services.

Each task works on one organisation's data and runs confined to it
(``accounts.tenancy``: row-level security applies as in a request of that organisation).
"""

from __future__ import annotations

from celery import shared_task

from accounts.tenancy import tenant_session
from contacts.importing import execute_import
from contacts.models import ImportJob


@shared_task(name="contacts.run_import", acks_late=True)
def run_import(job_id: int, dry_run: bool = False) -> str:
    """Run an import job (or its dry run). The outcome is stored on the job; an import
    is all or nothing, so a redelivered task simply runs it again (``execute_import``
    returns at once for a job that already committed).

    Confined to the job's organisation with ``tenant_session``, not ``tenant_scope``: the
    import commits its "running" state before the work (the page shows it meanwhile) and
    its failure after a rollback, so it must not be wrapped in one transaction."""
    owner = (
        ImportJob.objects.filter(pk=job_id).values_list("organization_id", "created_by_id").first()
    )
    if owner is None:
        return "missing"  # deleted meanwhile (a late or redelivered task)
    organization_id, user_id = owner
    with tenant_session(organization_id, user_id):
        job = execute_import(job_id, dry_run=dry_run)
    return job.status if job is not None else "missing"
