"""The bundled development SMTP sink: accepts every message, keeps it as a ``SinkMessage``.

It behaves like the relays the product must talk to in production: STARTTLS is offered
with a certificate from the development CA (``delivery.tls``) and *required* before
MAIL FROM, so a client that would fall back to plain text fails here exactly as it would
against a strict relay. Every message is stored byte for byte; operators read them at
``/platform/sink/``.

``SinkHandler`` is the aiosmtpd handler (tests run it under an aiosmtpd ``Controller``);
``serve()`` runs it in the foreground for ``manage.py run_smtp_sink``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

from delivery.models import SinkMessage

logger = logging.getLogger(__name__)

# Messages above this are refused with 552 (aiosmtpd's own default is 32 MiB).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


def _peer_label(peer) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer or "")[:100]


def store_message(
    *, mail_from: str, rcpt_tos: list[str], raw: bytes, peer: str, tls_info: dict | None
) -> SinkMessage:
    """Save one received message. Runs in a worker thread (the ORM is synchronous).

    The connection is closed afterwards: the sink lives for days beside a database that
    may restart, and a connection per message costs nothing at development volumes.
    """
    close_old_connections()
    try:
        cipher = (tls_info or {}).get("cipher") or ("", "", 0)
        return SinkMessage.objects.create(
            mail_from=mail_from[:998],
            rcpt_tos=list(rcpt_tos),
            raw=raw,
            peer=peer[:100],
            tls=tls_info is not None,
            tls_cipher=str(cipher[0] or "")[:100],
            tls_version=str(cipher[1] or "")[:20],
        )
    finally:
        connection.close()


class SinkHandler:
    """aiosmtpd handler: every recipient accepted, every message stored."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:  # decode_data=True servers only fill .content
            content = envelope.content or b""
            raw = (
                content
                if isinstance(content, bytes)
                else content.encode("utf-8", "surrogateescape")
            )
        try:
            message = await sync_to_async(store_message, thread_sensitive=False)(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                peer=_peer_label(session.peer),
                tls_info=session.ssl,
            )
        except Exception:
            logger.exception("SMTP sink could not store a message")
            # 451: the client keeps the message and retries; nothing is lost silently.
            return "451 4.3.0 Could not store the message, try again later"
        logger.info(
            "SMTP sink stored message %s from %s to %s (%s)",
            message.pk,
            message.mail_from or "<>",
            ", ".join(message.rcpt_tos),
            message.tls_version or "plain",
        )
        return "250 2.0.0 OK: stored"


def smtp_factory(tls_context: ssl.SSLContext | None, *, require_starttls: bool = True):
    """A protocol factory for ``loop.create_server`` (or ``Controller``-style use)."""

    def factory() -> SMTP:
        return SMTP(
            SinkHandler(),
            hostname="tayori-sink",
            tls_context=tls_context,
            require_starttls=require_starttls and tls_context is not None,
            data_size_limit=MAX_MESSAGE_BYTES,
            decode_data=False,
            ident="Tayori development SMTP sink",
        )

    return factory


def serve(host: str, port: int, tls_context: ssl.SSLContext) -> None:
    """Run the sink on ``host:port`` until SIGINT or SIGTERM; returns after a clean stop."""
    asyncio.run(_serve(host, port, tls_context))


async def _serve(host: str, port: int, tls_context: ssl.SSLContext) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(smtp_factory(tls_context), host=host, port=port)
    logger.info("SMTP sink listening on %s:%s (STARTTLS required)", host, port)
    try:
        await stop.wait()
    finally:
        server.close()
        # Bounded: an idle client must not keep a stopping sink alive.
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        except TimeoutError:
            logger.warning("SMTP sink: clients still connected at shutdown")
        logger.info("SMTP sink stopped")
