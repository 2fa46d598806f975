"""Create an organisation with its first admin (the platform operator's door).

    python manage.py createorganization acme --name "Acme Inc." --admin-email boss@acme.example

Prints the admin's invitation link: they open it, choose a password and log in. A taken
slug, an address that is not an e-mail address or an unknown time zone stops the command
with a clear error (exit status 1) and creates nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services


def _describe(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Create an organisation and invite its first admin; prints the invitation link."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Short name used in URLs, e.g. acme (letters, digits, -).")
        parser.add_argument("--name", required=True, help="The organisation's display name.")
        parser.add_argument(
            "--admin-email", required=True, help="E-mail address of the first admin."
        )
        parser.add_argument(
            "--time-zone",
            default="Asia/Tokyo",
            help="IANA time zone for schedules and reports (default: Asia/Tokyo).",
        )

    def handle(self, *args, slug, name, admin_email, time_zone, **options):
        try:
            organization, invitation = services.create_organization(
                name=name, slug=slug, admin_email=admin_email, time_zone=time_zone
            )
        except ValidationError as error:
            raise CommandError(_describe(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organisation {organization.slug} ({organization.name}) "
                f"with admin {invitation.email}."
            )
        )
        self.stdout.write("Send the admin this link (it works once and expires):")
        self.stdout.write(services.invitation_url(invitation))
