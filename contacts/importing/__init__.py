"""CSV import: the service every door (browser, ``manage.py import_contacts``, the task) uses.

Steps: ``create_import_job`` (decode, sniff, guess the mapping; a file without an e-mail
column is refused before anything is stored) -> ``set_mapping`` -> ``execute_import``
with ``dry_run=True`` (the real import, rolled back: its counts are exactly what the
import will do) -> ``confirm_import`` (queues the Celery task) -> ``execute_import``.

Rules (docs/contacts.md has the full list):

- All or nothing: the valid rows are written in one transaction together with the job's
  counts, report and audit entry; a failure rolls everything back and marks the job
  failed with the error.
- Upsert on the normalised address; an empty cell leaves the stored value as it is.
- Rows repeating an address are merged into the first occurrence and reported.
- A suppressed address is rejected (reported), never created, updated or resubscribed.
  A status of unsubscribed/bounced/complained in the file also suppresses the address.
  An existing contact's status never goes back to subscribed through an import.
- Rows that would take the organisation over ``max_contacts`` are rejected, in file order.
- A contact in a restricted list the importer cannot change is rejected.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.access import has_perm, require_perm
from accounts.models import Membership, Organization
from audit import record
from audit.context import acting_as
from audit.enums import Action
from contacts import csvfiles
from contacts.enums import ConsentMethod, ImportStatus
from contacts.importing.plan import ImportPlan, ImportResult, Progress
from contacts.importing.rows import RowValidator
from contacts.importing.storage import create_job, load_file, load_head
from contacts.models import ContactList, CustomField, ImportJob
from contacts.services import hidden_list_ids, lock_organization

logger = logging.getLogger(__name__)

# Uploads beyond this are refused (a million contacts is about 80 MB).
MAX_FILE_BYTES = getattr(settings, "CONTACTS_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
# Dry runs of files up to this size run inside the request (instant counts); bigger ones
# run in the worker with the same progress bar as the import.
INLINE_DRY_RUN_BYTES = getattr(settings, "CONTACTS_IMPORT_INLINE_DRY_RUN_BYTES", 2 * 1024 * 1024)
COMMAND_LINE_ACTOR = "manage.py import_contacts"
# An import showing no progress for this long is considered lost and may be started again.
STUCK_AFTER = getattr(settings, "CONTACTS_IMPORT_STUCK_AFTER", 10 * 60)


class ImportFileError(ValidationError):
    """The file cannot be imported at all (nothing was stored or written)."""


@dataclass
class Preview:
    columns: list[str]
    rows: list[list[str]]
    first_line: list[str]


def _custom_fields(organization_id: int) -> dict[str, CustomField]:
    return {f.key: f for f in CustomField.objects.for_organization(organization_id)}


def mapping_targets(organization_id: int) -> list[tuple[str, str]]:
    targets = [(value, str(label)) for value, label in csvfiles.STANDARD_TARGETS]
    for f in _custom_fields(organization_id).values():
        targets.append((csvfiles.ATTRIBUTE_PREFIX + f.key, f"{f.label} ({f.key})"))
    return targets


def _no_email_column(columns: list[str]) -> ImportFileError:
    return ImportFileError(
        _("The file has no e-mail address column. Columns found: %(columns)s.")
        % {"columns": ", ".join(f"“{c}”" for c in columns) or _("none")},
        code="no_email_column",
    )


def inspect_file(organization_id: int, data: bytes) -> dict:
    """Detected settings of a file: encoding, delimiter, header, columns, guessed mapping.

    Raises ``ImportFileError`` for an empty, undecodable or e-mail-less file.
    """
    if not data.strip():
        raise ImportFileError(_("The file is empty."), code="empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(
            _("The file is larger than %(mb)s MB; split it into smaller files.")
            % {"mb": MAX_FILE_BYTES // (1024 * 1024)},
            code="too_large",
        )
    try:
        encoding = csvfiles.detect_encoding(data)
    except csvfiles.CSVFileError as error:
        raise ImportFileError(str(error), code="encoding") from None
    delimiter = csvfiles.sniff_delimiter(csvfiles.sample_text(data, encoding))
    first, sample = csvfiles.read_header_and_sample(data, encoding, delimiter)
    if first is None:
        raise ImportFileError(_("The file has no rows."), code="empty")
    has_header = csvfiles.first_row_is_header(first.cells)
    columns = csvfiles.column_names(first.cells, has_header)
    rows = [r.cells for r in sample] if has_header else [first.cells, *(r.cells for r in sample)]
    fields = [(f.key, f.label) for f in _custom_fields(organization_id).values()]
    mapping = csvfiles.guess_mapping(columns if has_header else [], rows, fields)
    for index in range(len(columns)):
        mapping.setdefault(str(index), csvfiles.IGNORE)
    if csvfiles.EMAIL not in mapping.values():
        raise _no_email_column(columns)
    return {
        "encoding": encoding,
        "delimiter": delimiter,
        "has_header": has_header,
        "columns": columns,
        "mapping": mapping,
    }


def _check_list(membership: Membership | None, contact_list: ContactList | None, org_id: int):
    if contact_list is None:
        return
    if contact_list.organization_id != org_id:
        raise PermissionDenied("contacts.edit")
    if membership is not None:
        require_perm(membership, "contacts.edit", contact_list)


@transaction.atomic
def create_import_job(
    membership: Membership | None,
    *,
    file_name: str,
    data: bytes,
    organization: Organization | None = None,
    contact_list: ContactList | None = None,
    actor_label: str = "",
    request=None,
) -> ImportJob:
    """Store an uploaded file with its detected settings (``membership`` None: the
    platform operator's command line, for ``organization``)."""
    if membership is not None:
        require_perm(membership, "contacts.import")
        organization = membership.organization
    _check_list(membership, contact_list, organization.pk)
    detected = inspect_file(organization.pk, data)
    return create_job(
        data,
        organization=organization,
        created_by=membership.user if membership is not None else None,
        created_by_label=membership.user.email if membership is not None else actor_label,
        file_name=(file_name or "upload.csv")[:255],
        file_size=len(data),
        contact_list=contact_list,
        language=translation.get_language() or settings.LANGUAGE_CODE,
        **detected,
    )


def jobs() -> QuerySet[ImportJob]:
    """Import jobs without their file and report bytes (load those only when needed)."""
    return ImportJob.objects.defer("file_data", "report_data")


def preview(job: ImportJob, rows: int = 10) -> Preview:
    first, sample = csvfiles.read_header_and_sample(
        load_head(job.pk), job.encoding, job.delimiter, rows, truncated=True
    )
    body = [r.cells for r in sample]
    if not job.has_header and first is not None:
        body = [first.cells, *body[: rows - 1]]
    return Preview(job.columns, body, first.cells if first else [])


def validate_mapping(organization_id: int, mapping: dict, columns: list[str]) -> dict:
    targets = {value for value, _label in mapping_targets(organization_id)}
    cleaned, used = {}, set()
    for index in range(len(columns)):
        target = mapping.get(str(index), "") or ""
        if target not in targets:
            raise ValidationError(_("Unknown target “%(target)s”.") % {"target": target})
        if target and target in used:
            raise ValidationError(
                _("Two columns are mapped to the same field. Map each field once.")
            )
        if target:
            used.add(target)
        cleaned[str(index)] = target
    if csvfiles.EMAIL not in used:
        raise _no_email_column(columns)
    return cleaned


@transaction.atomic
def set_mapping(
    membership: Membership,
    job: ImportJob,
    *,
    mapping: dict,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    contact_list: ContactList | None = None,
    consent_method: str = ConsentMethod.IMPORT,
) -> ImportJob:
    """Store the person's column mapping and reading settings (before a dry run)."""
    require_perm(membership, "contacts.import", job)
    job = jobs().select_for_update().get(pk=job.pk)
    if job.status not in {ImportStatus.UPLOADED, ImportStatus.READY, ImportStatus.FAILED}:
        raise ValidationError(_("This import has already started."))
    _check_list(membership, contact_list, job.organization_id)
    if consent_method not in ConsentMethod.values:
        raise ValidationError(_("Choose how consent was obtained."))
    reread = False
    if encoding and encoding != job.encoding:
        try:
            csvfiles.check_encoding(load_file(job.pk), encoding)
        except csvfiles.CSVFileError as error:
            raise ValidationError(str(error)) from None
        job.encoding, reread = encoding, True
    if delimiter and delimiter != job.delimiter:
        job.delimiter, reread = delimiter, True
    if has_header is not None and has_header != job.has_header:
        job.has_header, reread = has_header, True
    if reread:
        first, _sample = csvfiles.read_header_and_sample(
            load_head(job.pk), job.encoding, job.delimiter, 1, truncated=True
        )
        job.columns = csvfiles.column_names(first.cells if first else [], job.has_header)
    job.mapping = validate_mapping(job.organization_id, mapping, job.columns)
    job.contact_list = contact_list
    job.consent_method = consent_method
    job.status = ImportStatus.UPLOADED
    job.dry_run_counts = {}
    job.error = ""
    job.save()
    return job


def _member_for(job: ImportJob) -> Membership | None:
    """Whose rights the run has: the uploader's, checked again now (a role may have
    changed since the upload). ``None`` for the command line (platform operator)."""
    if job.created_by_id is None:
        return None
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(organization_id=job.organization_id, user_id=job.created_by_id)
        .first()
    )
    if membership is None or not has_perm(membership, "contacts.import"):
        raise PermissionDenied(
            _("%(email)s may no longer import contacts.") % {"email": job.created_by_label}
        )
    return membership


def _engine():
    if connection.vendor == "postgresql":
        from contacts.importing import postgres

        return postgres
    from contacts.importing import orm

    return orm


def _plan(job: ImportJob, organization: Organization, membership: Membership | None) -> ImportPlan:
    fields = _custom_fields(job.organization_id)
    try:
        validator = RowValidator(job.mapping, fields, job.columns)
    except (ValueError, KeyError):
        raise ValidationError(
            _("The column mapping is incomplete or out of date; map the columns again.")
        ) from None
    contact_list = None
    if job.contact_list_id:
        contact_list = ContactList.objects.get(pk=job.contact_list_id)
        _check_list(membership, contact_list, job.organization_id)
    return ImportPlan(
        job=job,
        organization=organization,
        validator=validator,
        contact_list=contact_list,
        actor=membership.user if membership is not None else None,
        actor_label=membership.user.email if membership is not None else job.created_by_label,
        hidden_edit_list_ids=(
            hidden_list_ids(membership, "contacts.edit") if membership is not None else frozenset()
        ),
        now=timezone.now(),
    )


# Which states a run may start from. A real import restarts from RUNNING: a worker that
# died mid-import rolled its transaction back, and the broker redelivers the task.
_RUNNABLE = {
    True: {
        ImportStatus.UPLOADED,
        ImportStatus.DRY_RUN_QUEUED,
        ImportStatus.DRY_RUN_RUNNING,
        ImportStatus.READY,
        ImportStatus.FAILED,
    },
    False: {ImportStatus.QUEUED, ImportStatus.RUNNING},
}


class _DryRunDone(Exception):
    """Raised to roll the dry run's transaction back after reading its results."""

    def __init__(self, result: ImportResult):
        self.result = result


def execute_import(job_id: int, *, dry_run: bool, engine=None, progress=None) -> ImportJob | None:
    """Run the import of job ``job_id`` (or its dry run) now, in this process.

    Returns the job with its counts and report. Never raises for a bad file or a
    database error: the job is marked failed with the error (a programming error is
    logged with its traceback too).
    """
    engine = engine or _engine()
    progress = progress or Progress(job_id)
    with transaction.atomic():
        # Waits for a concurrent run of the same job (a redelivered task) to finish.
        job = jobs().select_for_update().filter(pk=job_id).first()
        if job is None:
            return None  # deleted meanwhile (a late or redelivered task)
        if job.status not in _RUNNABLE[dry_run]:
            return job  # already done, or superseded (e.g. confirmed before a late dry run)
        job.status = ImportStatus.DRY_RUN_RUNNING if dry_run else ImportStatus.RUNNING
        job.started_at = timezone.now()
        job.error = ""
        job.save(update_fields=["status", "started_at", "error"])
    progress("reading", 0, force=True)
    with translation.override(job.language), acting_as(job.created_by):
        try:
            membership = _member_for(job)
            result = None
            try:
                with transaction.atomic():
                    organization = lock_organization(job.organization_id)
                    locked = jobs().select_for_update().get(pk=job.pk)
                    if locked.status != job.status:
                        return locked  # changed meanwhile (another run finished it)
                    plan = _plan(locked, organization, membership)
                    result = engine.run(plan, progress)
                    if dry_run:
                        raise _DryRunDone(result)
                    _finish(locked, result, dry_run=False)
                    # Last, so the audit chain is locked only for a moment.
                    record(
                        Action.CONTACTS_IMPORTED,
                        actor=membership.user if membership else COMMAND_LINE_ACTOR,
                        organization=organization,
                        target=locked,
                        file=locked.file_name,
                        list=plan.contact_list.name if plan.contact_list else None,
                        **result.counts,
                    )
            except _DryRunDone as done:
                locked = jobs().get(pk=job.pk)
                _finish(locked, done.result, dry_run=True)
            progress("done", 100, force=True)
            return jobs().get(pk=job.pk)
        except (ValidationError, PermissionDenied) as error:
            message = "; ".join(getattr(error, "messages", None) or [str(error)])
            return _fail(job, message, progress)
        except Exception as error:
            logger.exception("Import %s failed", job.pk)
            return _fail(
                job,
                _("The import failed and nothing was changed: %(error)s") % {"error": error},
                progress,
            )


def _finish(job: ImportJob, result: ImportResult, *, dry_run: bool) -> None:
    job.report_data = result.report
    job.report_sample = result.sample
    job.report_is_dry_run = dry_run
    job.finished_at = timezone.now()
    if dry_run:
        job.dry_run_counts = result.counts
        job.status = ImportStatus.READY
    else:
        job.counts = result.counts
        job.status = ImportStatus.DONE
        # Data minimisation: once imported, the file's personal data lives in the
        # contacts; its name (the evidence of consent), counts and report are kept.
        job.file_data = b""
    job.save(
        update_fields=[
            "file_data",
            "report_data",
            "report_sample",
            "report_is_dry_run",
            "finished_at",
            "dry_run_counts",
            "counts",
            "status",
        ]
    )


def _fail(job: ImportJob, message: str, progress: Progress) -> ImportJob:
    job = jobs().get(pk=job.pk)
    job.status = ImportStatus.FAILED
    job.error = message
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    progress("failed", 100, force=True)
    return job


def _queue(job: ImportJob, dry_run: bool) -> None:
    from contacts.tasks import run_import

    transaction.on_commit(lambda: run_import.delay(job.pk, dry_run))


def request_dry_run(membership: Membership, job: ImportJob) -> bool:
    """Run the dry run now (small files: returns True once it is done) or queue it for
    the worker (returns False)."""
    require_perm(membership, "contacts.import", job)
    with transaction.atomic():
        job = jobs().select_for_update().get(pk=job.pk)
        if job.status not in {ImportStatus.UPLOADED, ImportStatus.READY, ImportStatus.FAILED}:
            raise ValidationError(_("This import has already started."))
        if not job.mapping:
            raise ValidationError(_("Map the columns first."))
        inline = job.file_size <= INLINE_DRY_RUN_BYTES
        if not inline:
            job.status = ImportStatus.DRY_RUN_QUEUED
            job.save(update_fields=["status"])
            _queue(job, dry_run=True)
    if inline:
        execute_import(job.pk, dry_run=True)
    return inline


@transaction.atomic
def confirm_import(membership: Membership, job: ImportJob, request=None) -> ImportJob:
    """Queue the import after its dry run; the task starts once this commits."""
    require_perm(membership, "contacts.import", job)
    job = jobs().select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.READY:
        raise ValidationError(_("Run the dry run first; confirm its counts, then import."))
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    Progress(job.pk)("queued", 0, force=True)
    _queue(job, dry_run=False)
    return job


def progress_of(job: ImportJob) -> dict:
    return cache.get(Progress.cache_key(job.pk)) or {"phase": "waiting", "percent": 0, "rows": 0}


def is_stuck(job: ImportJob) -> bool:
    """Queued or running, with no sign of life for ``STUCK_AFTER`` seconds: the task was
    lost (broker restarted, worker killed before the broker redelivered it)."""
    if not job.is_in_progress:
        return False
    at = progress_of(job).get("at")
    if at is None:
        at = job.started_at.timestamp() if job.started_at else job.created_at.timestamp()
    return time.time() - at > STUCK_AFTER


@transaction.atomic
def requeue(membership: Membership, job: ImportJob) -> ImportJob:
    """Send a stuck job's task again. Harmless if the first is alive after all: runs of
    one job take turns on its row, and a run finding the job done does nothing."""
    require_perm(membership, "contacts.import", job)
    job = jobs().select_for_update().get(pk=job.pk)
    if not is_stuck(job):
        raise ValidationError(_("This import is not stuck; it is still being worked on."))
    dry_run = job.status in {ImportStatus.DRY_RUN_QUEUED, ImportStatus.DRY_RUN_RUNNING}
    job.status = ImportStatus.DRY_RUN_QUEUED if dry_run else ImportStatus.QUEUED
    job.save(update_fields=["status"])
    Progress(job.pk)("queued", 0, force=True)
    _queue(job, dry_run=dry_run)
    return job


def import_file(
    organization: Organization,
    *,
    file_name: str,
    data: bytes,
    list_name: str | None = None,
    dry_run: bool = False,
    progress=None,
) -> ImportJob:
    """The command line's door (platform operator): guessed mapping, optional list by
    name (created if missing, unless this is a dry run), run in this process."""
    inspect_file(organization.pk, data)  # refuse a bad file before creating anything
    with transaction.atomic():
        job = _command_line_job(organization, file_name, data, list_name, dry_run)
    return execute_import(job.pk, dry_run=dry_run, progress=progress)


def _command_line_job(organization, file_name, data, list_name, dry_run) -> ImportJob:
    contact_list = None
    if list_name:
        lists = ContactList.objects.for_organization(organization).annotate(key=Lower("name"))
        contact_list = lists.filter(key=list_name.strip().lower()).first()
        if contact_list is None and not dry_run:
            contact_list = ContactList.objects.create(
                organization=organization, name=list_name.strip()
            )
            record(
                Action.CONTACT_LIST_CREATED,
                actor=COMMAND_LINE_ACTOR,
                organization=organization,
                target=contact_list,
                restricted=False,
            )
    job = create_import_job(
        None,
        organization=organization,
        file_name=file_name,
        data=data,
        contact_list=contact_list,
        actor_label=COMMAND_LINE_ACTOR,
    )
    if not dry_run:
        job.status = ImportStatus.QUEUED
        job.save(update_fields=["status"])
    return job
