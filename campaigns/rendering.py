"""One campaign rendered for one recipient: what delivery sends, the preview shows, the
pre-send check inspects and a test send carries.

Order of rendering: the body (HTML autoescaped) -> the layout around it (the rendered
body passed in as ``content``, never compiled again) -> the preheader, hidden, at the top
of ``<body>`` -> the text part (the text body, or text generated from the HTML: the HTML
templates converted to text templates once, ``campaigns.text.text_template``, and
rendered for the recipient).
The organisation's footer is offered as ``{{ footer }}``; the pre-send check refuses a
message whose HTML or text lacks any part of it.

Refusals (``RenderError`` and its subclasses): a template that fails, a header value
carrying a line break after personalisation (Python 3.11.7 predates the fix for
CVE-2024-6923, so the email package would not stop it), and, for ISO-2022-JP, any
character that charset cannot carry.
"""

from __future__ import annotations

import functools
import html as html_module
import re
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from markupsafe import Markup

from campaigns.enums import Charset
from campaigns.models import Campaign, SenderProfile
from campaigns.templating import RenderError, plain_data, render
from campaigns.text import finish, html_to_text, text_template

# Used wherever no real, per-recipient unsubscribe link exists yet (preview, checks).
# ``.invalid`` is reserved (RFC 2606): this address can never reach anyone.
UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/preview"
TEST_PREFIX = "[TEST] "

# Everything some mail program or library treats as a line break, plus NUL.
_HEADER_BREAK = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)

SAMPLE_CONTACT = {
    "email": "yamada.taro@example.com",
    "last_name": "山田",
    "first_name": "太郎",
    "company": "株式会社サンプル",
    "phone": "03-0000-0000",
    "attributes": {},
}


class HeaderInjectionError(RenderError):
    """A header value (subject, From name, Reply-To...) contains a line break."""


class UnencodableError(RenderError):
    """The chosen charset cannot carry some characters; ``characters`` lists them."""

    def __init__(self, message: str, characters: list[str]):
        super().__init__(message)
        self.characters = characters


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str
    text: str
    from_name: str
    from_address: str
    reply_to: str
    charset: str  # "utf-8" or "iso-2022-jp": the charset the message must be encoded in


def has_line_break(value: str) -> bool:
    return bool(_HEADER_BREAK.search(value or ""))


def unencodable_characters(text: str, charset: str) -> list[str]:
    """The distinct characters of ``text`` that ``charset`` cannot encode, in order."""
    if charset == Charset.UTF8 or not text:
        return []
    codec = "iso2022_jp" if charset == Charset.ISO2022JP else charset
    bad: dict[str, None] = {}
    try:
        text.encode(codec)
        return []
    except UnicodeEncodeError:
        pass
    for character in dict.fromkeys(text):
        try:
            character.encode(codec)
        except UnicodeEncodeError:
            bad[character] = None
    return list(bad)


def describe_characters(characters: list[str]) -> str:
    """``① (U+2460), ㈱ (U+3231)`` for an error message."""
    return ", ".join(f"{c} (U+{ord(c):04X})" for c in characters)


def contact_data(contact) -> dict:
    """A ``contacts.Contact`` as the plain dict templates see."""
    return {
        "email": contact.email,
        "last_name": contact.last_name,
        "first_name": contact.first_name,
        "company": contact.company,
        "phone": contact.phone,
        "attributes": dict(contact.attributes or {}),
    }


def _complaints_href(contact: str) -> str:
    contact = contact.strip()
    if contact.startswith(("https://", "http://")):
        return contact
    if "@" in contact and " " not in contact:
        return f"mailto:{contact}"
    return ""


# Stands for the recipient's unsubscribe URL in a footer rendered once per sender
# profile: private-use characters, which no template filter or escaping changes and no
# profile text can contain by accident.
_URL_STAND_IN = "\ue000unsubscribe-url\ue001"


@functools.lru_cache(maxsize=128)
def _footer_templates(
    sender_name: str, postal_address: str, complaints_contact: str, language: str
) -> tuple[str, str, str]:
    context = {
        "sender_name": sender_name,
        "postal_address": postal_address,
        "complaints_contact": complaints_contact,
        "complaints_href": _complaints_href(complaints_contact),
        "unsubscribe_url": _URL_STAND_IN,
    }
    with translation.override(language):
        html = render_to_string("emails/campaign_footer.html", context).strip()
        text = render_to_string("emails/campaign_footer.txt", context).strip()
    # The footer as it reads in a text part generated from the HTML.
    return html, text, html_to_text(html).strip()


def _footers(profile: SenderProfile, unsubscribe_url: str) -> tuple[str, str, str]:
    html, text, html_as_text = _footer_templates(
        profile.sender_name,
        profile.postal_address,
        profile.complaints_contact,
        profile.footer_language or "ja",
    )
    return (
        html.replace(_URL_STAND_IN, html_module.escape(unsubscribe_url)),
        text.replace(_URL_STAND_IN, unsubscribe_url),
        html_as_text.replace(_URL_STAND_IN, unsubscribe_url),
    )


def footer_parts(profile: SenderProfile, unsubscribe_url: str) -> tuple[str, str]:
    """The standard footer as (HTML, text), in the profile's footer language.

    The templates are rendered once per profile content (cached in the process) and the
    recipient's URL put in place: a campaign's messages differ only in that URL."""
    html, text, _html_as_text = _footers(profile, unsubscribe_url)
    return html, text


def _context(contact: dict, profile: SenderProfile, unsubscribe_url: str) -> dict:
    return {
        "contact": plain_data(contact),
        "sender": {
            "name": profile.sender_name,
            "postal_address": profile.postal_address,
            "complaints_contact": profile.complaints_contact,
        },
        "unsubscribe_url": unsubscribe_url,
    }


def _check_header(name: str, value: str) -> str:
    if has_line_break(value):
        raise HeaderInjectionError(
            _("%(header)s contains a line break, which could inject mail headers.")
            % {"header": name}
        )
    return value


# Stand-ins for per-recipient values in wrappers rendered once (see _URL_STAND_IN).
_BODY_STAND_IN = "\ue000body\ue001"
_SUBJECT_STAND_IN = "\ue000subject\ue001"
_PREHEADER_STAND_IN = "\ue000preheader\ue001"


@functools.lru_cache(maxsize=16)
def _document_template(charset: str, language: str) -> tuple[str, str]:
    document = render_to_string(
        "emails/campaign_document.html",
        {
            "body": _BODY_STAND_IN,
            "subject": _SUBJECT_STAND_IN,
            "charset": charset,
            "lang": language,
        },
    )
    before, after = document.split(_BODY_STAND_IN)
    return before, after


@functools.lru_cache(maxsize=1)
def _preheader_template() -> str:
    return render_to_string(
        "emails/campaign_preheader.html", {"preheader": _PREHEADER_STAND_IN}
    ).strip()


def _document(body_html: str, subject: str, charset: str, language: str) -> str:
    """The body in the standard HTML document, unless it is a whole document already.
    The wrapper is rendered once per charset and language; the subject is escaped in."""
    if "<html" in body_html[:2000].lower():
        return body_html
    before, after = _document_template(charset, language)
    return before.replace(_SUBJECT_STAND_IN, escape(subject)) + body_html + after


def _with_preheader(html: str, preheader: str) -> str:
    if not preheader.strip():
        return html
    block = _preheader_template().replace(_PREHEADER_STAND_IN, escape(preheader))
    match = _BODY_TAG.search(html)
    if match is None:
        return block + html
    return html[: match.end()] + block + html[match.end() :]


def _text_from_html(campaign: Campaign, html: str, context: dict) -> str:
    """The text part generated from the HTML: the campaign's templates converted to text
    templates once (``campaigns.text.text_template``, cached) and rendered for this
    recipient; or, when a template's text depends on its values, this recipient's HTML
    converted."""
    body = text_template(campaign.html_body)
    layout = campaign.layout
    wrapper = text_template(layout.html) if layout is not None else None
    if body is None or (layout is not None and wrapper is None):
        return html_to_text(html)
    text = render(body, context, html=False)
    if wrapper is not None:
        text = render(wrapper, {**context, "content": text}, html=False)
    return finish(text)


def render_for_contact(
    campaign: Campaign,
    contact: dict,
    *,
    unsubscribe_url: str = UNSUBSCRIBE_PLACEHOLDER,
    profile: SenderProfile | None = None,
    test: bool = False,
) -> RenderedMessage:
    """Render ``campaign`` for one recipient.

    ``contact`` is a plain dict (``contact_data`` builds one from a ``Contact``): its
    values are data, never template code. ``unsubscribe_url`` is the recipient's own
    one-click link (delivery builds it; the default is an unreachable placeholder for
    previews). ``profile`` saves a query per recipient when the caller has it. ``test``
    prefixes the subject with ``[TEST]``.

    Raises ``RenderError`` (template failure), ``HeaderInjectionError`` (line break in a
    header value) or ``UnencodableError`` (ISO-2022-JP cannot carry a character).
    """
    profile = profile or SenderProfile.for_organization(campaign.organization_id)
    context = _context(contact, profile, unsubscribe_url)
    footer_html, footer_text, footer_html_as_text = _footers(profile, unsubscribe_url)
    language = profile.footer_language or "ja"

    subject = render(campaign.subject, context, html=False).strip()
    if test:
        subject = TEST_PREFIX + subject
    _check_header(_("The subject"), subject)
    _check_header(_("The From name"), campaign.from_name)
    _check_header(_("The From address"), campaign.from_address)
    _check_header(_("The Reply-To address"), campaign.reply_to)

    html_context = {**context, "footer": Markup(footer_html)}  # noqa: S704 - our own Django-escaped template
    body_html = render(campaign.html_body, html_context, html=True)
    layout = campaign.layout
    if layout is not None:
        body_html = render(
            layout.html,
            {**html_context, "content": Markup(body_html)},  # noqa: S704 - sandbox output, autoescaped
            html=True,
        )
    html = _document(body_html, subject, campaign.charset, language) if body_html.strip() else ""

    text_context = {**context, "footer": footer_text}
    if campaign.text_body.strip():
        text = render(campaign.text_body, text_context, html=False)
        if layout is not None and layout.text.strip():
            text = render(layout.text, {**text_context, "content": text}, html=False)
    elif html:
        text = _text_from_html(campaign, html, {**context, "footer": footer_html_as_text})
    else:
        text = ""

    preheader = render(campaign.preheader, context, html=False).strip()
    html = _with_preheader(html, preheader) if html else html

    if campaign.charset != Charset.UTF8:
        characters = unencodable_characters(
            subject + campaign.from_name + html + text, campaign.charset
        )
        if characters:
            raise UnencodableError(
                _("%(charset)s cannot carry these characters: %(characters)s")
                % {
                    "charset": campaign.charset.upper(),
                    "characters": describe_characters(characters),
                },
                characters,
            )
    return RenderedMessage(
        subject=subject,
        html=html,
        text=text,
        from_name=campaign.from_name,
        from_address=campaign.from_address,
        reply_to=campaign.reply_to,
        charset=campaign.charset,
    )
