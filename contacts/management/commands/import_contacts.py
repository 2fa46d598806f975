"""``manage.py import_contacts --org SLUG FILE [--list NAME] [--dry-run]``.

The platform operator's door onto the same import service as the browser: the column
mapping is guessed from the headers, the import runs in this process, and the counts and
the rejected-rows report are printed (the report is also kept on the import job).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from contacts.enums import ImportStatus
from contacts.importing import ImportFileError, import_file
from contacts.importing.plan import Progress


class Command(BaseCommand):
    help = "Import contacts from a CSV file into an organisation."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("file", help="CSV file (UTF-8, UTF-8 with BOM, CP932, ...)")
        parser.add_argument("--list", dest="list_name", help="add the contacts to this list")
        parser.add_argument(
            "--dry-run", action="store_true", help="check and count only; write nothing"
        )
        parser.add_argument(
            "--report", help="also write the rejected-rows report (CSV) to this path"
        )

    def handle(self, *args, org, file, list_name, dry_run, report, verbosity, **options):
        organization = Organization.objects.filter(slug=org, is_active=True).first()
        if organization is None:
            raise CommandError(f"No active organisation with the slug {org!r}.")
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from None

        def show(state):
            if verbosity >= 2:
                self.stderr.write(f"{state['phase']}: {state['percent']}% ({state['rows']} rows)")

        try:
            job = import_file(
                organization,
                file_name=path.name,
                data=data,
                list_name=list_name,
                dry_run=dry_run,
                progress=Progress(None, show),
            )
        except ImportFileError as error:
            raise CommandError(" ".join(error.messages)) from None
        if job.status == ImportStatus.FAILED:
            raise CommandError(job.error)
        counts = job.dry_run_counts if dry_run else job.counts
        label = "Dry run (nothing written)" if dry_run else "Imported"
        self.stdout.write(
            f"{label}: {counts['rows']} rows: {counts['created']} created, "
            f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
            f"{counts['rejected']} rejected, {counts['merged']} merged duplicates, "
            f"{counts['warnings']} with warnings (import job {job.pk})."
        )
        for entry in job.report_sample[:20]:
            self.stdout.write(
                f"  line {entry['line']}: {entry['result']}: {entry['value']}: {entry['message']}"
            )
        if report:
            Path(report).write_bytes(bytes(job.report_data))
            self.stdout.write(f"Report written to {report}.")
