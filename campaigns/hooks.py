"""What campaigns need from delivery, without importing it.

Imports point one way (``delivery -> campaigns``), yet the pre-send check must say
whether the From domain is verified, and a test send must go out through the same
STARTTLS + DKIM path as a real send. Delivery therefore registers two functions here in
its ``AppConfig.ready()``::

    from campaigns import hooks
    hooks.register_domain_checker(check_from_domain)
    hooks.register_test_sender(send_test_message)

Contracts (delivery implements them):

``domain_checker(organization, from_address: str) -> DomainStatus``
    Whether ``from_address``'s domain is one of the organisation's sending domains, its
    DKIM key verified in DNS and the domain DMARC-aligned. Must not raise for an unknown
    or malformed domain: return ``DomainStatus(verified=False, ...)`` with a message.
    Called on page views (pre-send check, approval page): keep it to database reads;
    do the DNS lookups elsewhere and store their outcome.

``test_sender(campaign, message: RenderedMessage, recipient: str) -> TestSendResult``
    Build, DKIM-sign and send one message to ``recipient`` through the organisation's
    relay with STARTTLS, exactly as a real send would, but without creating any
    ``Delivery`` row or counting against quotas. ``message.subject`` already starts with
    ``[TEST]``. Return ``TestSendResult(ok=False, message=...)`` for a refusal or an SMTP
    failure rather than raising; an exception is reported as a failure too.

Until something is registered, the pre-send check reports "sending domains are not set
up yet" as a blocking finding and a test send says it is unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.models import Organization
    from campaigns.models import Campaign
    from campaigns.rendering import RenderedMessage


@dataclass(frozen=True)
class DomainStatus:
    domain: str
    verified: bool  # a sending domain of the organisation, DKIM verified
    dmarc_aligned: bool  # DKIM d= (and SPF) align with the From domain under DMARC
    message: str = ""  # shown as is in the pre-send check and on the approval page


@dataclass(frozen=True)
class TestSendResult:
    recipient: str
    ok: bool
    message: str = ""  # e.g. the relay's reply, or why it was refused


DomainChecker = Callable[["Organization", str], DomainStatus]
TestSender = Callable[["Campaign", "RenderedMessage", str], TestSendResult]

_registry: dict[str, Any] = {"domain_checker": None, "test_sender": None}


def register_domain_checker(checker: DomainChecker) -> None:
    """Install the From-domain check (replaces any earlier one)."""
    _registry["domain_checker"] = checker


def register_test_sender(sender: TestSender) -> None:
    """Install the test-send path (replaces any earlier one)."""
    _registry["test_sender"] = sender


def domain_checker() -> DomainChecker | None:
    return _registry["domain_checker"]


def test_sender() -> TestSender | None:
    return _registry["test_sender"]


test_sender.__test__ = False  # not a pytest test, despite its name


@contextmanager
def registered(
    *, domain_checker: DomainChecker | None = None, test_sender: TestSender | None = None
) -> Iterator[None]:
    """Install hooks for the duration of a block and restore what was there before
    (tests; ``None`` leaves that hook unregistered inside the block)."""
    saved = dict(_registry)
    _registry["domain_checker"] = domain_checker
    _registry["test_sender"] = test_sender
    try:
        yield
    finally:
        _registry.update(saved)
