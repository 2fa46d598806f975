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
