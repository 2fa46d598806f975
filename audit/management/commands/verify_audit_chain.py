"""Check that the audit log has not been tampered with.

Exit status 0 when every chain checked is intact; 1 (``CommandError``) naming the first
bad entry of each broken chain otherwise, so it can run from cron or a monitoring probe.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from audit.models import AuditEntry
from audit.services import ChainProblem, all_chains, chain_for, verify_chain


def _describe(problem: ChainProblem) -> str:
    entry = "none (the chain's end)" if problem.entry_id is None else problem.entry_id
    return f"chain {problem.chain} BROKEN: entry id {entry}, seq {problem.seq}: {problem.reason}"


class Command(BaseCommand):
    help = "Verify the audit log's hash chains (all of them, or one organisation's)."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Check only this organisation's chain.")

    def handle(self, *args, org=None, **options):
        if org is not None:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organisation with the slug {org!r}.")
            chains = [chain_for(organization)]
        else:
            chains = all_chains()
        if not chains:
            self.stdout.write("No audit entries yet: nothing to verify.")
            return
        problems = []
        for chain in chains:
            problem = verify_chain(chain)
            if problem is None:
                count = AuditEntry.objects.filter(chain=chain).count()
                self.stdout.write(f"{chain}: intact ({count} entries)")
            else:
                problems.append(problem)
                self.stderr.write(_describe(problem))
        if problems:
            raise CommandError(
                f"{len(problems)} of {len(chains)} audit chain(s) broken; first bad entry: "
                f"{_describe(problems[0])}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(chains)} chain(s) verified."))
