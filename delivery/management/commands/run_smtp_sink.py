"""``manage.py run_smtp_sink``: the development SMTP sink in the foreground.

Generates the development TLS material if needed (``delivery.tls``), then serves until
SIGINT or SIGTERM. Every message it accepts is visible at ``/platform/sink/``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from delivery.sink import serve
from delivery.tls import ensure_dev_tls, server_tls_context


class Command(BaseCommand):
    help = "Run the development SMTP sink (STARTTLS required; messages kept in the database)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.SMTP_SINK_HOST)
        parser.add_argument("--port", type=int, default=settings.SMTP_SINK_PORT)
        parser.add_argument(
            "--tls-name",
            action="append",
            default=[],
            dest="tls_names",
            help="Extra host name or address the certificate must cover "
            "(repeatable), e.g. the sink's service name in docker-compose.",
        )

    def handle(self, *args, host: str, port: int, tls_names: list[str], **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a TCP port (1-65535).")
        # The sink's own log lines are the interesting output; make sure they show.
        # aiosmtpd logs every command at INFO, which /healthz's probe would turn into a
        # screenful every few seconds.
        logging.getLogger("delivery.sink").setLevel(logging.INFO)
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        paths = ensure_dev_tls(settings.TLS_DIR, extra_names=tls_names)
        self.stdout.write(
            f"SMTP sink on {host}:{port}, STARTTLS required; certificate {paths.server_cert}, "
            f"CA {paths.ca_cert}"
        )
        self.stdout.flush()
        try:
            serve(host, port, server_tls_context(paths))
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
