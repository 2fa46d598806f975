"""DNS checks for sending domains (dnspython).

The resolver is configurable (``DNS_NAMESERVERS``: ``host`` or ``host:port`` entries)
so the tests can run a real DNS server on 127.0.0.1 and production can point at a
validating resolver. A lookup that times out or fails is reported as "could not check",
never as "missing": a DNS outage must not look like a misconfigured domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dns.exception
import dns.resolver
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class DnsUnavailable(RuntimeError):
    """The resolver did not answer (timeout, SERVFAIL): nothing can be concluded."""


@dataclass(frozen=True)
class RecordCheck:
    kind: str  # dkim_rsa, dkim_ed25519, spf, dmarc
    name: str  # the DNS name to publish at
    expected: str  # what to publish (or what must be included)
    found: list[str] = field(default_factory=list)
    status: str = "missing"  # ok | missing | wrong | unavailable
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def resolver() -> dns.resolver.Resolver:
    configured = getattr(settings, "DNS_NAMESERVERS", [])
    res = dns.resolver.Resolver(configure=not configured)
    if configured:
        res.nameservers = []
        for entry in configured:
            host, _, port = entry.partition(":")
            res.nameservers.append(host)
            if port:
                res.port = int(port)
    res.lifetime = getattr(settings, "DNS_TIMEOUT", 5.0)
    return res


def txt_records(name: str) -> list[str]:
    """All TXT strings at ``name`` (multi-string records joined), ``[]`` if none."""
    try:
        answer = resolver().resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise DnsUnavailable(str(exc)) from exc
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = re.sub(r"\s+", "", value)
    return tags


def _unavailable(kind: str, name: str, expected: str, exc: Exception) -> RecordCheck:
    return RecordCheck(
        kind,
        name,
        expected,
        [],
        "unavailable",
        str(_("DNS did not answer (%(error)s); try again later.") % {"error": exc}),
    )


def check_dkim(kind: str, name: str, expected: str, public_key: str) -> RecordCheck:
    try:
        found = txt_records(name)
    except DnsUnavailable as exc:
        return _unavailable(kind, name, expected, exc)
    if not found:
        return RecordCheck(
            kind,
            name,
            expected,
            found,
            "missing",
            str(_("No TXT record at %(name)s.") % {"name": name}),
        )
    for record in found:
        if _tags(record).get("p") == public_key:
            return RecordCheck(kind, name, expected, found, "ok", "")
    return RecordCheck(
        kind,
        name,
        expected,
        found,
        "wrong",
        str(_("The record at %(name)s does not carry this domain's key.") % {"name": name}),
    )


def check_spf(domain: str, include: str) -> RecordCheck:
    expected = f"v=spf1 include:{include} ~all" if include else "v=spf1 ~all"
    try:
        found = [r for r in txt_records(domain) if r.lower().startswith("v=spf1")]
    except DnsUnavailable as exc:
        return _unavailable("spf", domain, expected, exc)
    if not found:
        return RecordCheck(
            "spf",
            domain,
            expected,
            found,
            "missing",
            str(_("No SPF record (v=spf1) at %(name)s.") % {"name": domain}),
        )
    if len(found) > 1:
        return RecordCheck(
            "spf",
            domain,
            expected,
            found,
            "wrong",
            str(_("More than one SPF record: receivers treat that as an error.")),
        )
    if include and f"include:{include}".lower() not in found[0].lower().split():
        return RecordCheck(
            "spf",
            domain,
            expected,
            found,
            "wrong",
            str(_("The SPF record does not include %(include)s.") % {"include": include}),
        )
    return RecordCheck("spf", domain, expected, found, "ok", "")


def check_dmarc(domain: str) -> RecordCheck:
    name = f"_dmarc.{domain}"
    expected = f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"
    try:
        found = [r for r in txt_records(name) if r.replace(" ", "").lower().startswith("v=dmarc1")]
    except DnsUnavailable as exc:
        return _unavailable("dmarc", name, expected, exc)
    if not found:
        return RecordCheck(
            "dmarc",
            name,
            expected,
            found,
            "missing",
            str(_("No DMARC record at %(name)s.") % {"name": name}),
        )
    policy = _tags(found[0]).get("p", "")
    if policy not in {"none", "quarantine", "reject"}:
        return RecordCheck(
            "dmarc",
            name,
            expected,
            found,
            "wrong",
            str(_("The DMARC record has no valid policy (p=).")),
        )
    return RecordCheck("dmarc", name, expected, found, "ok", "")
