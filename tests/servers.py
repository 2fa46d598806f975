"""Real servers for the ops tests: the sink under aiosmtpd's threaded ``Controller``, a
plain SMTP server that offers no STARTTLS, and free TCP ports."""

from __future__ import annotations

import socket
import ssl
from contextlib import contextmanager

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from delivery.sink import smtp_factory


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _SinkController(Controller):
    """The project's own sink protocol (``delivery.sink.smtp_factory``) in a thread."""

    def __init__(self, tls_context: ssl.SSLContext | None, **kwargs):
        self._tls_context = tls_context
        super().__init__(handler=None, **kwargs)

    def factory(self):
        return smtp_factory(self._tls_context)()


@contextmanager
def running_sink(tls_context: ssl.SSLContext, host: str = "127.0.0.1"):
    """The development sink on a free port of ``host``; yields ``(host, port)``."""
    controller = _SinkController(tls_context, hostname=host, port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port
    finally:
        controller.stop()


@contextmanager
def running_plain_smtp():
    """An SMTP server that accepts mail but does not offer STARTTLS; yields ``(host, port)``."""
    controller = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port
    finally:
        controller.stop()


class RecordingHandler:
    """An SMTP server's brain for the delivery tests: keeps every message in memory and
    answers each recipient as told.

    ``responses`` maps an address (or ``"*"``) to a list of replies used one after the
    other (the last one repeats), e.g. ``["451 4.3.0 Try again later", "250 OK"]`` for a
    temporary failure then success. A ``rcpt`` reply is given at RCPT TO; a reply
    starting with ``"data:"`` is given after DATA instead.
    """

    def __init__(self, responses: dict[str, list[str]] | None = None):
        self.responses = responses or {}
        self.messages: list[tuple[str, list[str], bytes, bool]] = []
        self._used: dict[str, int] = {}

    def _reply(self, address: str, stage: str) -> str | None:
        replies = self.responses.get(address.lower()) or self.responses.get("*")
        if not replies:
            return None
        index = self._used.get((address.lower(), stage), 0)
        reply = replies[min(index, len(replies) - 1)]
        is_data = reply.startswith("data:")
        if (stage == "data") != is_data:
            return None
        self._used[(address.lower(), stage)] = index + 1
        return reply.removeprefix("data:")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._reply(address, "rcpt")
        if reply and not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            reply = self._reply(address, "data")
            if reply and not reply.startswith("250"):
                return reply
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                session.ssl is not None,
            )
        )
        return "250 2.0.0 OK: queued"


class _TLSController(Controller):
    def __init__(self, handler, tls_context, require_starttls=True, **kwargs):
        self._tls_context = tls_context
        self._require = require_starttls
        super().__init__(handler, **kwargs)

    def factory(self):
        from aiosmtpd.smtp import SMTP

        return SMTP(
            self.handler,
            hostname="tayori-test-relay",
            tls_context=self._tls_context,
            require_starttls=self._require and self._tls_context is not None,
            decode_data=False,
        )


@contextmanager
def running_relay(handler, tls_context: ssl.SSLContext | None, host: str = "127.0.0.1"):
    """A real SMTP server on a free port (STARTTLS required when ``tls_context`` is
    given); yields ``(host, port)``."""
    controller = _TLSController(handler, tls_context, hostname=host, port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port
    finally:
        controller.stop()
