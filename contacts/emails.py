"""E-mail address normalisation: one function every door uses.

The stored form is the address as email-validator normalises it, with the domain
lower-cased and IDNA-encoded (``taro@例え.jp`` is stored as ``taro@xn--r8jz45g.jp``);
uniqueness is on ``lower(email)`` per organisation.

Two deliberate exceptions to email-validator:

- Old Japanese mobile addresses (docomo, au, SoftBank issued them for years) may contain
  ``..`` or a dot right before ``@``. RFC 5322 forbids both, but the carriers deliver to
  them and real people still use them, so they are accepted with a warning.
- Full-width ASCII letters and at-signs (typed with a Japanese IME) are converted to
  half-width, with a warning: nobody means those characters in an address.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

# email-validator spends ~30 µs per address; a million-row import would spend half its
# time budget there. Plain ASCII addresses matching this strict pattern (a subset of what
# email-validator accepts, and normalised identically: local part kept, domain
# lower-cased) skip it; everything else still goes through email-validator.
# tests/contacts/test_emails.py checks the two agree (property-based).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST = re.compile(rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})")
# Top-level domains email-validator refuses (special-use names).
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_FULLWIDTH = re.compile("[\uff01-\uff5e\u3000]")


class InvalidEmail(ValueError):
    """The value is not an e-mail address we can send to; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class NormalisedEmail:
    address: str
    warning: str = ""


def _fast_path(value: str) -> str | None:
    match = _FAST.fullmatch(value)
    if match is None or len(value) > 254:
        return None
    local, domain = match.groups()
    if len(local) > 64:
        return None
    domain = domain.lower()
    # IDNA rules around "--" (xn-- labels, hyphens in positions 3-4): leave to the library.
    if "--" in domain or domain.rsplit(".", 1)[1] in _SPECIAL_TLDS:
        return None
    return f"{local}@{domain}"


def _validated(value: str) -> str:
    info = validate_email(value, check_deliverability=False)
    ascii_domain = info.ascii_domain or info.domain
    return f"{info.local_part}@{ascii_domain.lower()}"


def _legacy_mobile(value: str) -> str | None:
    """``taro..yamada.@docomo.ne.jp`` -> the address with its domain normalised, or None."""
    local, sep, domain = value.rpartition("@")
    if not sep or not local or local.startswith("."):
        return None
    if ".." not in local and not local.endswith("."):
        return None
    # Validate everything else by checking a stand-in local part with the dots tidied.
    stand_in = re.sub(r"\.+", ".", local).strip(".")
    if not stand_in:
        return None
    try:
        normalised = _validated(f"{stand_in}@{domain}")
    except EmailNotValidError:
        return None
    return f"{local}@{normalised.rpartition('@')[2]}"


def normalise_email(value: str) -> NormalisedEmail:
    """The stored form of ``value``, with a warning when it needed special treatment.

    Raises ``InvalidEmail`` (translated message) for anything else email-validator refuses.
    """
    value = value.strip()
    if not value:
        raise InvalidEmail(_("The e-mail address is empty."))
    fast = _fast_path(value)
    if fast is not None:
        return NormalisedEmail(fast)
    warning = ""
    if _FULLWIDTH.search(value):
        value = unicodedata.normalize("NFKC", value).strip()
        warning = _("Full-width characters in the address were converted to half-width.")
        fast = _fast_path(value)
        if fast is not None:
            return NormalisedEmail(fast, warning)
    try:
        return NormalisedEmail(_validated(value), warning)
    except EmailNotValidError as error:
        legacy = _legacy_mobile(value)
        if legacy is not None:
            return NormalisedEmail(
                legacy,
                _(
                    "Old Japanese mobile address format (“..” or a dot before “@”): "
                    "accepted, but some mail servers may refuse it."
                ),
            )
        raise InvalidEmail(_("Not a valid e-mail address: %(error)s") % {"error": error}) from None


def email_key(address: str) -> str:
    """What uniqueness compares: the stored address, lower-cased."""
    return address.lower()
