"""Real servers for the delivery tests: a DNS server on 127.0.0.1 (dnslib), a STARTTLS
relay (aiosmtpd), a verified sending domain and an approved campaign."""

from __future__ import annotations

import socket
import threading

import pytest
from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from campaigns.models import SenderProfile
from delivery.services import add_sending_domain, dns_records, verify_sending_domain
from delivery.tls import server_tls_context
from tests.campaigns.conftest import FOOTER, make_contact, make_list
from tests.delivery.helpers import approved_campaign
from tests.servers import RecordingHandler, running_relay


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


@pytest.fixture
def sending_domain(admin, dns_zone):
    domain = add_sending_domain(admin, "shop.example")
    for record in dns_records(domain):
        dns_zone.setdefault(record["name"], []).append(record["value"])
    return verify_sending_domain(domain)


@pytest.fixture
def relay(settings, dev_tls):
    """The platform relay: a real STARTTLS server trusting our development CA."""
    handler = RecordingHandler()
    with running_relay(handler, server_tls_context(dev_tls)) as (host, port):
        settings.DELIVERY_RELAY_HOST, settings.DELIVERY_RELAY_PORT = host, port
        settings.DELIVERY_RELAY_CA_FILE = str(dev_tls.ca_cert)
        yield handler
    from delivery.smtp import pool

    # The pool runs its own event loop; a browser test may still have Playwright's loop
    # running in this thread, so close it from another one.
    closer = threading.Thread(target=pool().close)
    closer.start()
    closer.join()


@pytest.fixture
def profile(org_a):
    profile = SenderProfile.for_organization(org_a)
    for name, value in FOOTER.items():
        setattr(profile, name, value)
    profile.save()
    return profile


@pytest.fixture
def customers(org_a):
    contact_list = make_list(org_a)
    make_contact(org_a, "yamada@example.jp", contact_list, last_name="山田", first_name="太郎")
    make_contact(org_a, "sato@example.jp", contact_list, last_name="佐藤", first_name="花子")
    make_contact(org_a, "suzuki@example.jp", contact_list, last_name="鈴木", first_name="一郎")
    return contact_list


@pytest.fixture
def ready(sending_domain, relay, profile, customers, marketer, approver):
    """An approved campaign to the three customers, due now."""
    return approved_campaign(marketer, approver, customers)
