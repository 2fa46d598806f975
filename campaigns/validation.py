"""Validation of what a person types into a campaign or a layout.

Used by the forms (errors next to each field, with template line numbers) and again by
the services (so the admin, the API or a script cannot skip it). Refuses:

- a line break (CR, LF or any other) in a header value: subject, preheader, From name,
  From address, Reply-To. Python 3.11.7 predates the fix for CVE-2024-6923, so the
  email package would fold such a value into a second header; we never let one in;
- addresses that are not addresses;
- templates the sandbox refuses (``campaigns.templating.check_template``);
- for ISO-2022-JP, every character that charset cannot carry, listed.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

from campaigns.enums import Charset
from campaigns.models import Campaign, Layout, SenderProfile
from campaigns.rendering import describe_characters, has_line_break, unencodable_characters
from campaigns.templating import (
    LAYOUT_NAMES,
    TemplateProblem,
    Vocabulary,
    check_template,
    uses_name,
)

HEADER_FIELDS = ("subject", "preheader", "from_name", "from_address", "reply_to")
TEMPLATE_FIELDS = (
    ("subject", False),
    ("preheader", False),
    ("html_body", True),
    ("text_body", False),
)


def vocabulary_for(organization_id: int, *, layout: bool = False) -> Vocabulary:
    from contacts.models import CustomField

    keys = frozenset(
        CustomField.objects.for_organization(organization_id).values_list("key", flat=True)
    )
    if layout:
        return Vocabulary(names=LAYOUT_NAMES, attribute_keys=keys)
    return Vocabulary(attribute_keys=keys)


def header_error(value: str) -> str | None:
    if has_line_break(value):
        return _("Line breaks are not allowed here: they could add mail headers.")
    return None


def address_error(value: str) -> str | None:
    if not value:
        return None
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        return _("Not a valid e-mail address: %(error)s") % {"error": error}
    return None


def _field_label(name: str) -> str:
    return str(Campaign._meta.get_field(name).verbose_name)


def template_problems(campaign: Campaign) -> list[tuple[str, TemplateProblem]]:
    """``(field label, problem)`` for every template field of ``campaign``."""
    vocabulary = vocabulary_for(campaign.organization_id)
    problems = []
    for name, html in TEMPLATE_FIELDS:
        for problem in check_template(getattr(campaign, name), html=html, vocabulary=vocabulary):
            label = _field_label(name)
            problems.append((label[:1].upper() + label[1:], problem))
    return problems


def charset_problem(campaign: Campaign, profile: SenderProfile | None = None) -> str | None:
    if campaign.charset == Charset.UTF8:
        return None
    profile = profile or SenderProfile.for_organization(campaign.organization_id)
    sources = [getattr(campaign, name) for name in (*HEADER_FIELDS, "html_body", "text_body")]
    if campaign.layout_id:
        sources += [campaign.layout.html, campaign.layout.text]
    sources += [profile.sender_name, profile.postal_address, profile.complaints_contact]
    characters = unencodable_characters("".join(sources), campaign.charset)
    if not characters:
        return None
    return _(
        "ISO-2022-JP cannot carry these characters: %(characters)s. Replace them "
        "(for example ① → (1), ㈱ → (株), 髙 → 高, half-width kana → full-width) or choose UTF-8."
    ) % {"characters": describe_characters(characters)}


def campaign_errors(campaign: Campaign) -> dict[str, list[str]]:
    """Every error of ``campaign``'s content, by field name; empty when it may be saved."""
    errors: dict[str, list[str]] = {}
    for name in HEADER_FIELDS:
        message = header_error(getattr(campaign, name))
        if message:
            errors.setdefault(name, []).append(message)
    for name in ("from_address", "reply_to"):
        if name not in errors:
            message = address_error(getattr(campaign, name).strip())
            if message:
                errors.setdefault(name, []).append(message)
    vocabulary = vocabulary_for(campaign.organization_id)
    for name, html in TEMPLATE_FIELDS:
        if name in errors:
            continue
        for problem in check_template(getattr(campaign, name), html=html, vocabulary=vocabulary):
            errors.setdefault(name, []).append(str(problem))
    message = charset_problem(campaign)
    if message:
        errors.setdefault("charset", []).append(message)
    return errors


def validate_campaign(campaign: Campaign) -> None:
    errors = campaign_errors(campaign)
    if errors:
        raise ValidationError(errors)


def validate_layout(layout: Layout) -> None:
    errors: dict[str, list[str]] = {}
    vocabulary = vocabulary_for(layout.organization_id, layout=True)
    for name, html in (("html", True), ("text", False)):
        source = getattr(layout, name)
        if not source.strip():
            continue
        for problem in check_template(source, html=html, vocabulary=vocabulary):
            errors.setdefault(name, []).append(str(problem))
        if name not in errors and not uses_name(source, "content", html=html):
            errors.setdefault(name, []).append(_("A layout must contain {{ content }}."))
    if not layout.html.strip():
        errors.setdefault("html", []).append(_("A layout needs HTML with {{ content }}."))
    if errors:
        raise ValidationError(errors)
