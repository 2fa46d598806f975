"""The platform's own mail (``config.mail.VerifiedStartTLSBackend``) against real servers:
it reaches the bundled sink over verified STARTTLS and refuses anything less."""

from __future__ import annotations

import smtplib
import ssl

import pytest
from django.core.mail import send_mail

from accounts import services
from accounts.enums import Role
from accounts.models import Invitation
from delivery.models import SinkMessage
from delivery.tls import server_tls_context
from tests.servers import running_sink


@pytest.mark.django_db(transaction=True)
def test_invitation_arrives_in_the_sink_over_starttls(platform_mail, sink, admin):
    platform_mail(sink)

    invitation = services.invite_member(admin, "New.Person@Example.COM", Role.VIEWER)

    message = SinkMessage.objects.get()
    assert message.mail_from == "no-reply@tayori.localhost"
    assert message.rcpt_tos == ["new.person@example.com"]
    assert message.tls is True
    assert message.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert message.tls_cipher != ""
    assert message.peer.startswith("127.0.0.1:")
    assert message.summary() == {
        "subject": "You are invited to Organisation A on Tayori",
        "from": "Tayori <no-reply@tayori.localhost>",
        "to": "new.person@example.com",
    }
    # The link is signed with a timestamp: compare what it opens, not its exact text.
    link = next(word for word in message.text_body().split() if "/invitations/" in word)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert services.load_invitation(token) == invitation
    assert Invitation.objects.get().email == "new.person@example.com"


@pytest.mark.django_db
def test_backend_refuses_a_server_without_starttls(platform_mail, plain_smtp):
    platform_mail(plain_smtp)

    with pytest.raises(smtplib.SMTPNotSupportedError) as excinfo:
        send_mail("Hello", "Body", None, ["someone@example.com"])

    assert str(excinfo.value) == "STARTTLS extension not supported by server."


@pytest.mark.django_db
def test_backend_refuses_a_certificate_from_an_untrusted_ca(platform_mail, foreign_sink):
    platform_mail(foreign_sink)

    with pytest.raises(ssl.SSLCertVerificationError) as excinfo:
        send_mail("Hello", "Body", None, ["someone@example.com"])

    assert excinfo.value.verify_message == "unable to get local issuer certificate"
    assert SinkMessage.objects.count() == 0


@pytest.mark.django_db
def test_backend_refuses_a_host_name_the_certificate_does_not_cover(platform_mail, dev_tls):
    # The dev certificate covers 127.0.0.1, ::1 and localhost, not 127.0.0.2 (which is
    # loopback on Linux too): a trusted CA is not enough, the name must match.
    with running_sink(server_tls_context(dev_tls), host="127.0.0.2") as address:
        platform_mail(address)

        with pytest.raises(ssl.SSLCertVerificationError) as excinfo:
            send_mail("Hello", "Body", None, ["someone@example.com"])

    assert (
        excinfo.value.verify_message
        == "IP address mismatch, certificate is not valid for '127.0.0.2'."
    )
    assert SinkMessage.objects.count() == 0
