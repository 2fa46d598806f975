"""The TLS-only SMTP client against real aiosmtpd servers on 127.0.0.1."""

from __future__ import annotations

import pytest

from delivery.smtp import RelaySettings, SmtpPool
from delivery.tls import server_tls_context
from tests.servers import RecordingHandler, running_relay

MESSAGE = b"From: a@shop.example\r\nTo: b@example.jp\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture
def pool():
    p = SmtpPool()
    yield p
    p.close()


def _relay(address, dev_tls, **kw) -> RelaySettings:
    host, port = address
    return RelaySettings(host=host, port=port, ca_bundle=dev_tls.ca_cert.read_text(), **kw)


def test_message_goes_out_over_verified_starttls(pool, dev_tls):
    handler = RecordingHandler()
    with running_relay(handler, server_tls_context(dev_tls)) as address:
        result = pool.send(
            _relay(address, dev_tls), "b+tok@bounce.example", "b@example.jp", MESSAGE
        )
    assert (result.status, result.code) == ("sent", 250)
    assert handler.messages == [("b+tok@bounce.example", ["b@example.jp"], MESSAGE, True)]


def test_connection_is_reused_for_the_next_message(pool, dev_tls):
    handler = RecordingHandler()
    with running_relay(handler, server_tls_context(dev_tls)) as address:
        relay = _relay(address, dev_tls)
        pool.send(relay, "x@bounce.example", "one@example.jp", MESSAGE)
        first = pool._connections[relay.pool_key].client
        pool.send(relay, "x@bounce.example", "two@example.jp", MESSAGE)
        assert pool._connections[relay.pool_key].client is first
        assert pool._connections[relay.pool_key].sent == 2
    assert [m[1] for m in handler.messages] == [["one@example.jp"], ["two@example.jp"]]


def test_relay_without_starttls_is_refused_and_nothing_is_sent(pool, dev_tls):
    handler = RecordingHandler()
    with running_relay(handler, None) as address:
        result = pool.send(_relay(address, dev_tls), "x@bounce.example", "b@example.jp", MESSAGE)
    assert result.status == "tls"
    assert "STARTTLS" in result.message
    assert handler.messages == []


def test_untrusted_certificate_is_refused_and_nothing_is_sent(pool, dev_tls, foreign_tls):
    handler = RecordingHandler()
    with running_relay(handler, server_tls_context(foreign_tls)) as address:
        result = pool.send(_relay(address, dev_tls), "x@bounce.example", "b@example.jp", MESSAGE)
    assert result.status == "tls"
    assert "certificate verify failed" in result.message
    assert handler.messages == []


def test_wrong_host_name_is_refused(pool, dev_tls):
    """The certificate names 127.0.0.1 and localhost; reaching it by another name fails."""
    handler = RecordingHandler()
    with running_relay(handler, server_tls_context(dev_tls), host="127.0.0.2") as address:
        result = pool.send(_relay(address, dev_tls), "x@bounce.example", "b@example.jp", MESSAGE)
    assert result.status == "tls"
    assert handler.messages == []


def test_4xx_is_temporary_and_5xx_permanent(pool, dev_tls):
    handler = RecordingHandler(
        {
            "later@example.jp": ["451 4.3.0 Mailbox busy, try later"],
            "gone@example.jp": ["550 5.1.1 No such user"],
            "spam@example.jp": ["data:554 5.7.1 Message refused as spam"],
        }
    )
    with running_relay(handler, server_tls_context(dev_tls)) as address:
        relay = _relay(address, dev_tls)
        later = pool.send(relay, "x@b.example", "later@example.jp", MESSAGE)
        gone = pool.send(relay, "x@b.example", "gone@example.jp", MESSAGE)
        spam = pool.send(relay, "x@b.example", "spam@example.jp", MESSAGE)
        ok = pool.send(relay, "x@b.example", "fine@example.jp", MESSAGE)
    assert (later.status, later.code, later.message) == (
        "temporary",
        451,
        "4.3.0 Mailbox busy, try later",
    )
    assert (gone.status, gone.code, gone.message) == ("permanent", 550, "5.1.1 No such user")
    assert (spam.status, spam.code) == ("permanent", 554)
    assert ok.status == "sent"
    assert [m[1] for m in handler.messages] == [["fine@example.jp"]]


def test_unreachable_relay_is_temporary(pool, dev_tls):
    from tests.servers import free_port

    result = pool.send(
        _relay(("127.0.0.1", free_port()), dev_tls, timeout=2),
        "x@b.example",
        "b@example.jp",
        MESSAGE,
    )
    assert result.status == "temporary"


def test_probe_reports_tls_version_or_the_refusal(pool, dev_tls, foreign_tls):
    with running_relay(RecordingHandler(), server_tls_context(dev_tls)) as address:
        ok, message = pool.probe(_relay(address, dev_tls))
    assert ok is True
    assert message.endswith("certificate verified")
    with running_relay(RecordingHandler(), server_tls_context(foreign_tls)) as address:
        ok, message = pool.probe(_relay(address, dev_tls))
    assert ok is False
    assert "certificate verify failed" in message
