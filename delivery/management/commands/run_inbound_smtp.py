"""Run the inbound SMTP endpoint for bounces, complaints and mailto unsubscribes."""

from __future__ import annotations

import asyncio
import signal

from aiosmtpd.smtp import SMTP
from django.conf import settings
from django.core.management.base import BaseCommand

from delivery.inbound import InboundHandler
from delivery.tls import ensure_dev_tls, server_tls_context


class Command(BaseCommand):
    help = "Receive bounces (DSN), complaints (ARF) and mailto unsubscribes."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.INBOUND_SMTP_HOST)
        parser.add_argument("--port", type=int, default=settings.INBOUND_SMTP_PORT)

    def handle(self, *args, host, port, **options):
        tls_context = server_tls_context(ensure_dev_tls()) if settings.DEBUG else None
        if settings.INBOUND_TLS_CERT:
            import ssl

            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY)
        asyncio.run(self._serve(host, port, tls_context))

    async def _serve(self, host, port, tls_context):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def factory():
            # STARTTLS offered, not required: it is the sender's choice on inbound mail.
            return SMTP(
                InboundHandler(),
                hostname=settings.BOUNCE_DOMAIN,
                tls_context=tls_context,
                require_starttls=False,
                decode_data=False,
                data_size_limit=10 * 1024 * 1024,
            )

        server = await loop.create_server(factory, host=host, port=port)
        self.stdout.write(f"Inbound SMTP for {settings.BOUNCE_DOMAIN} on {host}:{port}")
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()
