"""Real servers for the delivery tests: a DNS server on 127.0.0.1 (dnslib)."""

from __future__ import annotations

import socket

import pytest
from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _ZoneResolver(BaseResolver):
    """Answers TXT queries from a dict the test fills: {name: [value, ...]}."""

    def __init__(self, zone: dict[str, list[str]]):
        self.zone = zone

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if request.q.qtype == QTYPE.TXT:
            for value in self.zone.get(name, []):
                # DNS strings are at most 255 bytes: long DKIM keys are split, as in real zones.
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        if not reply.rr and name not in self.zone:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


@pytest.fixture
def dns_zone(settings):
    """A real DNS server on 127.0.0.1; returns the dict of TXT records it serves."""
    zone: dict[str, list[str]] = {}
    port = _free_port()
    server = DNSServer(_ZoneResolver(zone), port=port, address="127.0.0.1")
    server.start_thread()
    settings.DNS_NAMESERVERS = [f"127.0.0.1:{port}"]
    settings.DNS_TIMEOUT = 2.0
    try:
        yield zone
    finally:
        server.stop()
