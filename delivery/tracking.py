"""Tracking links: signed, per delivery and URL, so they can never be open redirects.

A click link carries the delivery's token, the destination URL (base64url) and an HMAC
over both; an altered URL, token or signature is a 404, never a redirect. Open pixels
and unsubscribe links carry only the delivery token (128 random bits).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import re
from functools import lru_cache

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import salted_hmac

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=4)
def _click_key(secret: str) -> bytes:
    # salted_hmac's key derivation, done once instead of per link (a message has dozens).
    return salted_hmac("delivery.click", "", secret=secret, algorithm="sha256").digest()


def _signature(token: str, url: str) -> str:
    message = f"{token}\n{url}".encode()
    return _b64(hmac.digest(_click_key(settings.SECRET_KEY), message, "sha256")[:16])


@lru_cache(maxsize=8)
def _click_prefix(site_url: str) -> str:
    # reverse() once: every click URL is this prefix plus three path segments.
    marker = "TOKEN"
    path = reverse("tracking:click", args=[marker, "URL", "SIG"])
    return site_url + path[: path.index(marker)]


def verify_click(token: str, encoded_url: str, signature: str) -> str | None:
    """The destination if the link is genuine, else ``None``."""
    try:
        url = _unb64(encoded_url).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not url.startswith(("https://", "http://")):
        return None
    if not hmac.compare_digest(_signature(token, url), signature):
        return None
    return url


@lru_cache(maxsize=16)
def _token_url(site_url: str, name: str) -> tuple[str, str]:
    # reverse() once per URL name: the token is the only part that changes.
    marker = "0" * 32
    path = reverse(name, args=[marker])
    start = path.index(marker)
    return site_url + path[:start], path[start + len(marker) :]


def open_pixel_url(token: str) -> str:
    prefix, suffix = _token_url(settings.SITE_URL, "tracking:open")
    return f"{prefix}{token}{suffix}"


def unsubscribe_url(token: str) -> str:
    prefix, suffix = _token_url(settings.SITE_URL, "tracking:unsubscribe")
    return f"{prefix}{token}{suffix}"


def unsubscribe_mailto(token: str) -> str:
    return f"mailto:unsubscribe+{token}@{settings.BOUNCE_DOMAIN}"


def return_path(token: str) -> str:
    """The VERP envelope sender: bounces come back to an address naming the delivery."""
    return f"b+{token}@{settings.BOUNCE_DOMAIN}"


@lru_cache(maxsize=4096)
def _link(href: str) -> tuple[str, str]:
    """A link as written in the HTML: its destination (entities decoded) and that
    destination's encoding in a click URL. A campaign's links repeat in every message."""
    url = html.unescape(href)
    return url, _b64(url.encode("utf-8"))


def rewrite_links(html_body: str, token: str, *, keep: tuple[str, ...] = ()) -> str:
    """Point every http(s) link of ``<a href>`` at its signed click URL, except ``keep``
    (the unsubscribe link must reach the recipient's own page directly).

    A click URL is the click prefix, the token, the destination in base64url and its
    signature (``verify_click`` reads it back), HTML-escaped: only the prefix and the
    token can hold a character to escape, so they are escaped once per message rather
    than the whole URL once per link."""
    start = html.escape(_click_prefix(settings.SITE_URL)) + html.escape(token) + "/"

    def replace(match: re.Match) -> str:
        url, encoded = _link(match.group(3))
        if url in keep:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{start}{encoded}/{_signature(token, url)}{quote}"

    return _HREF.sub(replace, html_body)


def add_open_pixel(html_body: str, token: str) -> str:
    pixel = (
        f'<img src="{html.escape(open_pixel_url(token))}" width="1" height="1" alt="" '
        'style="display:none">'
    )
    closing = re.search(r"</body\s*>", html_body, re.IGNORECASE)
    if closing is None:
        return html_body + pixel
    return html_body[: closing.start()] + pixel + html_body[closing.start() :]
