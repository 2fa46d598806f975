"""The pre-send check: everything a person should not have to remember.

Shown to the marketer while editing and to the approver before deciding. A ``blocking``
finding stops submission and approval; a ``warning`` is shown and left to judgement.

Each finding has a stable ``code`` (tests and the templates use it):

=====================  ========  ===================================================
code                   severity  what
=====================  ========  ===================================================
template               blocking  a template does not compile or is refused
render                 blocking  rendering failed (bad data, header line break...)
charset                blocking  ISO-2022-JP cannot carry some characters
subject_empty          blocking  no subject
subject_long           warning   subject over 100 characters
from_address           blocking  no From address, or not an address
footer_settings        blocking  the organisation has not set up its footer
footer_sender_name     blocking  the sender name is missing from the HTML or text
footer_postal_address  blocking  the postal address is missing
footer_complaints      blocking  the contact for complaints is missing
unsubscribe_link       blocking  no ``{{ unsubscribe_url }}`` link
refusal_statement      blocking  no statement that the reader may refuse more mail
text_part              blocking  the text part is empty
domain_unavailable     blocking  sending domains are not set up yet (no checker)
domain_unverified      blocking  the From domain is not a verified sending domain
dmarc_unaligned        blocking  the From domain is not DMARC-aligned
insecure_links         warning   links to ``http://``
ip_links               warning   links to raw IP addresses
image_alt              warning   images without alt text
size                   warning   HTML over 100 KB (Gmail clips at 102 KB)
spam_score             warning   SpamAssassin score at or above the limit
spam_unavailable       warning   SpamAssassin could not run
audience_empty         blocking  nobody to send to
audience_error         blocking  the audience cannot be computed (bad stored data)
send_at_past           warning   the scheduled time has passed
=====================  ========  ===================================================
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

from campaigns import audience, hooks
from campaigns.enums import Severity
from campaigns.hooks import DomainStatus
from campaigns.models import Campaign, SenderProfile
from campaigns.rendering import (
    SAMPLE_CONTACT,
    UNSUBSCRIBE_PLACEHOLDER,
    RenderedMessage,
    UnencodableError,
    render_for_contact,
)
from campaigns.spam import SpamResult, mime_message, spam_score
from campaigns.templating import RenderError
from campaigns.text import html_to_text
from campaigns.validation import template_problems

logger = logging.getLogger(__name__)

SUBJECT_MAX = 100
HTML_SIZE_LIMIT = 100 * 1024
# A statement that the reader may refuse further mail (特定電子メール法 第4条). Any of
# these, in either language, counts; the standard footer carries one.
REFUSAL_PHRASES = (
    "配信停止",
    "配信を停止",
    "配信解除",
    "配信の停止",
    "受信を希望されない",
    "受信拒否",
    "unsubscribe",
    "opt out",
    "opt-out",
    "refuse further",
    "no longer wish",
)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    details: tuple[str, ...] = ()

    @property
    def blocking(self) -> bool:
        return self.severity == Severity.BLOCKING


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    recipient_count: int | None = None
    domain: DomainStatus | None = None
    spam: SpamResult | None = None
    message: RenderedMessage | None = None

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.blocking

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def add(self, code: str, severity: str, message: str, details=()) -> None:
        self.findings.append(Finding(code, severity, message, tuple(str(d) for d in details)))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images_without_alt: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("a", "area") and attributes.get("href"):
            self.links.append(attributes["href"].strip())
        elif tag == "img":
            alt = attributes.get("alt")
            if alt is None or not alt.strip():
                self.images_without_alt.append(attributes.get("src") or "?")


_TEXT_URL = re.compile(r"https?://[^\s<>\"')]+", re.IGNORECASE)


def _squash(text: str) -> str:
    """For "is this in there": no whitespace at all, case folded."""
    return re.sub(r"\s+", "", text).casefold()


def _is_ip_host(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _footer_findings(report: CheckReport, message: RenderedMessage, profile: SenderProfile):
    missing = profile.missing_footer_fields()
    if missing:
        report.add(
            "footer_settings",
            Severity.BLOCKING,
            _("The organisation's footer is not set up (campaign settings): %(fields)s.")
            % {"fields": ", ".join(missing)},
        )
    parts = {_("HTML"): html_to_text(message.html) if message.html else "", _("text"): message.text}
    wanted = (
        ("footer_sender_name", profile.sender_name, _("The sender name")),
        ("footer_postal_address", profile.postal_address, _("The postal address")),
        ("footer_complaints", profile.complaints_contact, _("The contact for complaints")),
    )
    for code, value, label in wanted:
        if not value.strip():
            continue
        absent = [
            part for part, text in parts.items() if text and _squash(value) not in _squash(text)
        ]
        if absent:
            report.add(
                code,
                Severity.BLOCKING,
                _("%(what)s is missing from the %(parts)s part. Add {{ footer }}.")
                % {"what": label, "parts": _(" and ").join(absent)},
            )
    links = _Links()
    links.feed(message.html or "")
    absent = []
    if message.html and UNSUBSCRIBE_PLACEHOLDER not in links.links:
        absent.append(_("HTML"))
    if message.text and UNSUBSCRIBE_PLACEHOLDER not in message.text:
        absent.append(_("text"))
    if absent:
        report.add(
            "unsubscribe_link",
            Severity.BLOCKING,
            _("The unsubscribe link ({{ unsubscribe_url }}) is missing from the %(parts)s part.")
            % {"parts": _(" and ").join(absent)},
        )
    absent = [
        part
        for part, text in parts.items()
        if text
        and not any(phrase in _TEXT_URL.sub(" ", text).casefold() for phrase in REFUSAL_PHRASES)
    ]
    if absent:
        report.add(
            "refusal_statement",
            Severity.BLOCKING,
            _(
                "The %(parts)s part does not tell readers they may refuse further mail "
                "(for example “配信停止” or “unsubscribe”)."
            )
            % {"parts": _(" and ").join(absent)},
        )
    return links


def _content_findings(report: CheckReport, message: RenderedMessage, links: _Links, campaign):
    if not message.text.strip():
        report.add("text_part", Severity.BLOCKING, _("The plain-text part is empty."))
    text_links = _TEXT_URL.findall(message.text or "")
    all_links = [link for link in links.links + text_links if link != UNSUBSCRIBE_PLACEHOLDER]
    insecure = sorted({link for link in all_links if link.lower().startswith("http://")})
    if insecure:
        report.add(
            "insecure_links",
            Severity.WARNING,
            _("Links to http:// (not encrypted; some mail programs warn about them)."),
            insecure,
        )
    ip_links = sorted({link for link in all_links if _is_ip_host(link)})
    if ip_links:
        report.add(
            "ip_links",
            Severity.WARNING,
            _("Links to raw IP addresses look like phishing to readers and filters."),
            ip_links,
        )
    if links.images_without_alt:
        report.add(
            "image_alt",
            Severity.WARNING,
            _("Images without alt text (shown when images are blocked, read by screen readers)."),
            links.images_without_alt,
        )
    codec = "iso2022_jp" if message.charset == "iso-2022-jp" else "utf-8"
    size = len((message.html or "").encode(codec, "replace"))
    if size > HTML_SIZE_LIMIT:
        report.add(
            "size",
            Severity.WARNING,
            _("The HTML is %(size)s KB; Gmail cuts messages off at 102 KB.")
            % {"size": f"{size / 1024:.0f}"},
        )
    if not message.subject.strip():
        report.add("subject_empty", Severity.BLOCKING, _("The subject is empty."))
    elif len(message.subject) > SUBJECT_MAX:
        report.add(
            "subject_long",
            Severity.WARNING,
            _("The subject has %(count)s characters; mail programs cut it after about 100.")
            % {"count": len(message.subject)},
        )


def _domain_findings(report: CheckReport, campaign: Campaign) -> None:
    address = campaign.from_address.strip()
    if not address:
        report.add("from_address", Severity.BLOCKING, _("There is no From address."))
        return
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        report.add(
            "from_address",
            Severity.BLOCKING,
            _("The From address is not valid: %(error)s") % {"error": error},
        )
        return
    checker = hooks.domain_checker()
    if checker is None:
        report.add(
            "domain_unavailable",
            Severity.BLOCKING,
            _("Sending domains are not set up yet, so the From domain cannot be verified."),
        )
        return
    try:
        # A savepoint: a database error inside the checker must not poison the caller's
        # transaction (submit and approve run the check under a row lock).
        with transaction.atomic():
            status = checker(campaign.organization, address)
    except Exception as error:  # the checker belongs to another app: report, do not crash
        logger.exception("domain checker failed")
        status = DomainStatus(
            domain=address.rpartition("@")[2],
            verified=False,
            dmarc_aligned=False,
            message=_("The domain check failed: %(error)s") % {"error": error},
        )
    report.domain = status
    if not status.verified:
        report.add(
            "domain_unverified",
            Severity.BLOCKING,
            _("%(domain)s is not a verified sending domain of the organisation.")
            % {"domain": status.domain},
            [status.message] if status.message else (),
        )
    elif not status.dmarc_aligned:
        report.add(
            "dmarc_unaligned",
            Severity.BLOCKING,
            _("%(domain)s is not DMARC-aligned: receivers may reject or quarantine the mail.")
            % {"domain": status.domain},
            [status.message] if status.message else (),
        )


def _spam_findings(report: CheckReport, message: RenderedMessage, profile: SenderProfile):
    result = spam_score(mime_message(message))
    report.spam = result
    if result.score is None:
        report.add(
            "spam_unavailable",
            Severity.WARNING,
            _("The SpamAssassin check could not run: %(error)s") % {"error": result.error},
        )
    elif result.score >= float(profile.spam_score_limit):
        report.add(
            "spam_score",
            Severity.WARNING,
            _("SpamAssassin scores this message %(score)s (limit %(limit)s).")
            % {"score": f"{result.score:.1f}", "limit": profile.spam_score_limit},
            [f"{points:+.1f} {name}: {text}" for points, name, text in result.rules if points > 0],
        )


def run_checks(campaign: Campaign, *, spam: bool = True, count: bool = True) -> CheckReport:
    """Every finding for ``campaign`` as it is now (see the module docstring).

    ``spam=False`` skips SpamAssassin (about a second) where only the rules matter;
    ``count=False`` skips counting the audience.
    """
    report = CheckReport()
    profile = SenderProfile.for_organization(campaign.organization_id)
    problems = template_problems(campaign)
    for field_label, problem in problems:
        report.add(
            "template",
            Severity.BLOCKING,
            _("%(field)s: %(problem)s") % {"field": field_label, "problem": problem},
        )
    _domain_findings(report, campaign)
    if count:
        try:
            report.recipient_count = audience.recipient_count(campaign)
        except ValueError as error:  # segments.services.AudienceError: stored data it cannot read
            report.add("audience_error", Severity.BLOCKING, str(error))
        if report.recipient_count == 0:
            report.add("audience_empty", Severity.BLOCKING, _("The audience has no recipients."))
    if campaign.send_at and campaign.send_at < timezone.now():
        report.add(
            "send_at_past",
            Severity.WARNING,
            _("The scheduled time has passed: once approved, it goes out at once."),
        )
    if problems:
        return report
    try:
        message = render_for_contact(campaign, SAMPLE_CONTACT, profile=profile)
    except UnencodableError as error:
        report.add("charset", Severity.BLOCKING, str(error), error.characters)
        return report
    except RenderError as error:
        report.add("render", Severity.BLOCKING, str(error))
        return report
    report.message = message
    links = _footer_findings(report, message, profile)
    _content_findings(report, message, links, campaign)
    if spam:
        _spam_findings(report, message, profile)
    return report


def require_no_blocking(report: CheckReport) -> None:
    """Raise ``ValidationError`` listing every blocking finding, if any."""
    if report.blocking:
        raise ValidationError([f.message for f in report.blocking], code="presend_check")
