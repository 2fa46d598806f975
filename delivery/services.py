"""Sending domains and SMTP relays: the rules (admins only; every change audited).

Domain checks run DNS lookups (``delivery.dns``); page views and the campaigns'
pre-send check only read the stored outcome (``domain_status``).
"""

from __future__ import annotations

import ssl
from dataclasses import asdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import get_object_for_member, require_perm
from accounts.models import Membership, Organization
from audit import record
from audit.enums import Action
from delivery import dns as dnscheck
from delivery.enums import DomainStatus, RelaySecurity
from delivery.keys import dkim_record_name, dkim_record_value, generate_ed25519, generate_rsa
from delivery.models import SendingDomain, SmtpRelay
from delivery.smtp import RelaySettings, pool

# --- Sending domains ------------------------------------------------------------------


def normalise_domain(value: str) -> str:
    """Lower-case, IDNA (ASCII) form of a domain name, or ``ValidationError`` saying why."""
    domain = (value or "").strip().rstrip(".").lower()
    if "://" in domain or "/" in domain or "@" in domain or " " in domain:
        raise ValidationError(
            _("Enter a domain name only, like mail.example.co.jp."), code="domain"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(
            _("%(value)s is not a valid domain name."), params={"value": value}, code="domain"
        ) from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or any(not label or len(label) > 63 for label in labels)
        or len(ascii_domain) > 253
    ):
        raise ValidationError(
            _("%(value)s is not a valid domain name."), params={"value": value}, code="domain"
        )
    return ascii_domain


def _selectors(now=None) -> tuple[str, str]:
    stamp = (now or timezone.now()).strftime("%Y%m%d%H%M")
    return f"tyr{stamp}", f"tye{stamp}"


@transaction.atomic
def add_sending_domain(membership: Membership, domain: str, request=None) -> SendingDomain:
    """Add ``domain`` with a fresh DKIM key pair (RSA-2048 and Ed25519); pending until
    its DNS records are published and verified."""
    require_perm(membership, "domains.manage")
    domain = normalise_domain(domain)
    organization = membership.organization
    if SendingDomain.objects.filter(organization=organization, domain=domain).exists():
        raise ValidationError(
            _("%(domain)s is already one of your sending domains."),
            params={"domain": domain},
            code="duplicate",
        )
    rsa_pair, ed_pair = generate_rsa(), generate_ed25519()
    rsa_selector, ed_selector = _selectors()
    sending_domain = SendingDomain.objects.create(
        organization=organization,
        domain=domain,
        rsa_selector=rsa_selector,
        rsa_private_key=rsa_pair.private_key,
        rsa_public_key=rsa_pair.public_key,
        ed25519_selector=ed_selector,
        ed25519_private_key=ed_pair.private_key,
        ed25519_public_key=ed_pair.public_key,
        created_by=membership.user,
    )
    record(
        Action.SENDING_DOMAIN_ADDED,
        actor=membership.user,
        organization=organization,
        target=sending_domain,
        request=request,
        domain=domain,
    )
    record(
        Action.DKIM_KEY_GENERATED,
        actor=membership.user,
        organization=organization,
        target=sending_domain,
        request=request,
        domain=domain,
        selectors=[rsa_selector, ed_selector],
        algorithms=["rsa-2048", "ed25519"],
    )
    return sending_domain


def dns_records(sending_domain: SendingDomain) -> list[dict]:
    """The exact records to publish: DKIM (RSA, Ed25519), SPF, and a DMARC to start from."""
    domain = sending_domain.domain
    records = [
        {
            "kind": "dkim_rsa",
            "type": "TXT",
            "name": dkim_record_name(sending_domain.rsa_selector, domain),
            "value": dkim_record_value("rsa", sending_domain.rsa_public_key),
        }
    ]
    if sending_domain.ed25519_selector:
        records.append(
            {
                "kind": "dkim_ed25519",
                "type": "TXT",
                "name": dkim_record_name(sending_domain.ed25519_selector, domain),
                "value": dkim_record_value("ed25519", sending_domain.ed25519_public_key),
            }
        )
    records.append(
        {
            "kind": "spf",
            "type": "TXT",
            "name": domain,
            "value": f"v=spf1 include:{settings.SPF_INCLUDE} ~all",
        }
    )
    records.append(
        {
            "kind": "dmarc",
            "type": "TXT",
            "name": f"_dmarc.{domain}",
            "value": f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}",
        }
    )
    return records


def check_domain_dns(sending_domain: SendingDomain) -> list[dnscheck.RecordCheck]:
    domain = sending_domain.domain
    checks = [
        dnscheck.check_dkim(
            "dkim_rsa",
            dkim_record_name(sending_domain.rsa_selector, domain),
            dkim_record_value("rsa", sending_domain.rsa_public_key),
            sending_domain.rsa_public_key,
        )
    ]
    if sending_domain.ed25519_selector:
        checks.append(
            dnscheck.check_dkim(
                "dkim_ed25519",
                dkim_record_name(sending_domain.ed25519_selector, domain),
                dkim_record_value("ed25519", sending_domain.ed25519_public_key),
                sending_domain.ed25519_public_key,
            )
        )
    checks.append(dnscheck.check_spf(domain, settings.SPF_INCLUDE))
    checks.append(dnscheck.check_dmarc(domain))
    return checks


def verify_sending_domain(
    sending_domain: SendingDomain, *, actor=None, request=None
) -> SendingDomain:
    """Look the records up and store the outcome. Verified means the RSA DKIM key is
    published (the one every message is signed with) and a DMARC record exists; an
    Ed25519 or SPF problem is reported but does not block sending. A DNS outage leaves
    the status as it was. Audited when the status changes."""
    checks = check_domain_dns(sending_domain)
    by_kind = {check.kind: check for check in checks}
    unavailable = any(check.status == "unavailable" for check in checks)
    before = sending_domain.status
    if by_kind["dkim_rsa"].ok and by_kind["dmarc"].ok:
        status = DomainStatus.VERIFIED
    elif unavailable:
        status = before
    else:
        status = DomainStatus.FAILED
    now = timezone.now()
    with transaction.atomic():
        locked = SendingDomain.objects.select_for_update().get(pk=sending_domain.pk)
        locked.check_results = [asdict(check) for check in checks]
        locked.last_checked_at = now
        locked.status = status
        if status == DomainStatus.VERIFIED and before != DomainStatus.VERIFIED:
            locked.verified_at = now
        locked.save(update_fields=["check_results", "last_checked_at", "status", "verified_at"])
        if status != before:
            action = (
                Action.SENDING_DOMAIN_VERIFIED
                if status == DomainStatus.VERIFIED
                else Action.SENDING_DOMAIN_CHECK_FAILED
            )
            record(
                action,
                actor=actor,
                organization=locked.organization,
                target=locked,
                request=request,
                domain=locked.domain,
                problems={c.kind: c.message for c in checks if not c.ok},
            )
    return locked


@transaction.atomic
def remove_sending_domain(
    membership: Membership, sending_domain: SendingDomain, request=None
) -> None:
    require_perm(membership, "domains.manage", sending_domain)
    record(
        Action.SENDING_DOMAIN_REMOVED,
        actor=membership.user,
        organization=membership.organization,
        target=sending_domain,
        request=request,
        domain=sending_domain.domain,
    )
    sending_domain.delete()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def sending_domain_for(organization: Organization, from_address: str) -> SendingDomain | None:
    """The organisation's verified sending domain for ``from_address``, if any."""
    try:
        domain = normalise_domain(domain_of(from_address))
    except ValidationError:
        return None
    return SendingDomain.objects.filter(
        organization=organization, domain=domain, status=DomainStatus.VERIFIED
    ).first()


def domain_status(organization: Organization, from_address: str):
    """``campaigns.hooks.DomainStatus`` for the pre-send check (database reads only).

    DKIM is signed with ``d=`` the From domain itself, so a verified domain is
    DMARC-aligned (relaxed and strict) by construction.
    """
    from campaigns.hooks import DomainStatus as Status

    raw = domain_of(from_address)
    try:
        domain = normalise_domain(raw)
    except ValidationError as error:
        return Status(raw, False, False, error.messages[0])
    found = SendingDomain.objects.filter(organization=organization, domain=domain).first()
    if found is None:
        return Status(
            domain,
            False,
            False,
            _(
                "%(domain)s is not one of your sending domains. An admin adds it "
                "under Sending domains."
            )
            % {"domain": domain},
        )
    if not found.is_verified:
        return Status(
            domain,
            False,
            False,
            _("%(domain)s is not verified yet: publish its DNS records, then press Verify.")
            % {"domain": domain},
        )
    return Status(
        domain, True, True, _("%(domain)s is verified (DKIM and DMARC).") % {"domain": domain}
    )


# --- Relays ---------------------------------------------------------------------------


def platform_relay() -> RelaySettings:
    """The platform's default relay (settings ``DELIVERY_RELAY_*``)."""
    ca_bundle = ""
    if settings.DELIVERY_RELAY_CA_FILE:
        try:
            with open(settings.DELIVERY_RELAY_CA_FILE, encoding="ascii") as handle:
                ca_bundle = handle.read()
        except OSError:
            ca_bundle = ""
    return RelaySettings(
        host=settings.DELIVERY_RELAY_HOST,
        port=settings.DELIVERY_RELAY_PORT,
        security=settings.DELIVERY_RELAY_SECURITY,
        username=settings.DELIVERY_RELAY_USERNAME,
        password=settings.DELIVERY_RELAY_PASSWORD,
        ca_bundle=ca_bundle,
        rate_per_second=settings.DELIVERY_RELAY_RATE,
    )


def relay_settings(relay: SmtpRelay) -> RelaySettings:
    return RelaySettings(
        host=relay.host,
        port=relay.port,
        security=relay.security,
        username=relay.username,
        password=relay.password,
        ca_bundle=relay.ca_bundle,
        rate_per_second=relay.rate_per_second,
    )


def relay_for(organization: Organization) -> tuple[SmtpRelay | None, RelaySettings]:
    relay = (
        SmtpRelay.objects.filter(organization=organization, is_active=True).order_by("pk").first()
    )
    if relay is None:
        return None, platform_relay()
    return relay, relay_settings(relay)


RELAY_FIELDS = (
    "name",
    "host",
    "port",
    "security",
    "username",
    "password",
    "ca_bundle",
    "max_connections",
    "rate_per_second",
    "is_active",
)


def _validate_relay(relay: SmtpRelay) -> None:
    if relay.security not in RelaySecurity.values:
        raise ValidationError({"security": _("Choose STARTTLS or implicit TLS.")})
    if relay.ca_bundle.strip():
        try:
            ssl.create_default_context().load_verify_locations(cadata=relay.ca_bundle)
        except (ssl.SSLError, ValueError) as exc:
            raise ValidationError(
                {"ca_bundle": _("These are not PEM certificates: %(error)s") % {"error": exc}}
            ) from None
    relay.full_clean(exclude=["organization"])


@transaction.atomic
def save_relay(
    membership: Membership,
    data: dict,
    relay: SmtpRelay | None = None,
    request=None,
    *,
    clear_password: bool = False,
) -> SmtpRelay:
    """Create or change a relay.

    The password is write-only: on change, an empty (or absent) password keeps the
    stored one, and only ``clear_password=True`` removes it. Asking for both a new
    password and clearing it is a ``ValidationError`` on ``password``, nothing saved.
    The audit entry says whether the password was changed or cleared, never what it is.
    """
    require_perm(membership, "relays.manage", relay)
    if clear_password and data.get("password"):
        raise ValidationError(
            {"password": _("Either enter a new password or clear the stored one, not both.")},
            code="password_conflict",
        )
    creating = relay is None
    relay = relay or SmtpRelay(organization=membership.organization)
    if clear_password:
        data = {**data, "password": ""}
    changed = []
    for field in RELAY_FIELDS:
        if field not in data:
            continue
        if field == "password" and not creating and not clear_password and not data[field]:
            continue
        if getattr(relay, field) != data[field]:
            changed.append(field)
            setattr(relay, field, data[field])
    _validate_relay(relay)
    relay.save()
    record(
        Action.RELAY_CREATED if creating else Action.RELAY_CHANGED,
        actor=membership.user,
        organization=membership.organization,
        target=relay,
        request=request,
        host=relay.host,
        port=relay.port,
        security=relay.security,
        fields=[f for f in changed if f != "password"],
        password_changed="password" in changed,
        password_cleared="password" in changed and not relay.password,
    )
    return relay


@transaction.atomic
def remove_relay(membership: Membership, relay: SmtpRelay, request=None) -> None:
    require_perm(membership, "relays.manage", relay)
    record(
        Action.RELAY_REMOVED,
        actor=membership.user,
        organization=membership.organization,
        target=relay,
        request=request,
        host=relay.host,
    )
    relay.delete()


def test_relay(membership: Membership, relay: SmtpRelay, request=None) -> tuple[bool, str]:
    """Connect, require TLS, verify the certificate, log in, NOOP. Stores and audits the
    outcome; returns ``(ok, message)``."""
    require_perm(membership, "relays.manage", relay)
    ok, message = pool().probe(relay_settings(relay))
    SmtpRelay.objects.filter(pk=relay.pk).update(
        last_tested_at=timezone.now(), last_test_ok=ok, last_test_message=message
    )
    record(
        Action.RELAY_TESTED,
        actor=membership.user,
        organization=membership.organization,
        target=relay,
        request=request,
        ok=ok,
        message=message,
    )
    return ok, message


test_relay.__test__ = False  # a service, not a pytest test


def get_domain_for_member(membership: Membership, pk) -> SendingDomain:
    return get_object_for_member(membership, SendingDomain.objects.all(), "domains.manage", pk=pk)


def get_relay_for_member(membership: Membership, pk) -> SmtpRelay:
    return get_object_for_member(membership, SmtpRelay.objects.all(), "relays.manage", pk=pk)
