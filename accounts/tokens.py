"""API tokens: making, listing, revoking and checking them.

A token reads ``tyr_<prefix>_<secret>``: ``prefix`` (12 lower-case letters and digits)
finds the row, ``secret`` (40 letters and digits, ~238 bits) is checked against its
SHA-256. The secret is shown once, when the token is made, and never stored.

Rules
-----
- Made by a member with ``tokens.manage`` for themselves, in their organisation, with at
  least one scope and an expiry of at most a year. Audited; the audit entry raises the
  ``api_token_created`` alert (``audit.alerts``), which e-mails every admin of the
  organisation once (a new credential to their data is news to them). This service sends
  no mail of its own about it, so each admin gets exactly one message.
- A member lists and revokes their own tokens; admins (``members.manage``) see and may
  revoke every token of the organisation. Revocation is audited and e-mailed to admins.
- A token acts as its owner's *current* membership: deactivating the member (or the
  user, or the organisation) makes it refuse at once; lowering the role lowers what it
  may do at once. It never reaches another organisation.
- Use is recorded as ``last_used_at``/``last_used_ip`` (written at most once a minute,
  or at once from a new address) and as an ``api_token_used`` audit entry at most once an
  hour per token, and whenever the address changes: the log stays readable and a token
  turning up somewhere new is still visible.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import re
import secrets
import string

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.access import has_perm, require_perm
from accounts.enums import Role
from accounts.models import API_SCOPES, ApiToken, Membership
from accounts.net import client_ip
from audit import record
from audit.enums import Action

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "tyr_"  # noqa: S105 - the public marker of our tokens, not a secret
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 12
SECRET_LENGTH = 40
TOKEN_RE = re.compile(r"tyr_([a-z0-9]{12})_([A-Za-z0-9]{40})")
# Offered on the tokens page; a token lives a year at most.
EXPIRY_CHOICES_DAYS = (30, 90, 180, 365)
DEFAULT_EXPIRY_DAYS = 90
MAX_NAME_LENGTH = 100
# How often use is written down (see the module docstring).
LAST_USED_INTERVAL = datetime.timedelta(minutes=1)
AUDIT_USE_INTERVAL = datetime.timedelta(hours=1)


class TokenRefused(Exception):
    """The presented token cannot be used; ``str()`` says why (for the 401 answer)."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _new_prefix() -> str:
    while True:
        prefix = _random(_PREFIX_ALPHABET, PREFIX_LENGTH)
        if not ApiToken.objects.filter(prefix=prefix).exists():
            return prefix


# --- Who sees which tokens ---------------------------------------------------------------


def _manages_all(membership: Membership) -> bool:
    return has_perm(membership, "members.manage")


def tokens_for_member(membership: Membership) -> QuerySet[ApiToken]:
    """The member's own tokens; for admins, every token of the organisation."""
    require_perm(membership, "tokens.manage")
    tokens = ApiToken.objects.for_organization(membership.organization_id).select_related(
        "user", "revoked_by"
    )
    if not _manages_all(membership):
        tokens = tokens.filter(user_id=membership.user_id)
    return tokens


def get_token_for_member(membership: Membership, pk) -> ApiToken:
    """One token the member may manage: 403 without ``tokens.manage``, 404 for another
    organisation's token or (for non-admins) another person's."""
    token = tokens_for_member(membership).filter(pk=pk).first()
    if token is None:
        raise Http404
    return token


# --- Making and revoking -------------------------------------------------------------------


def clean_scopes(scopes) -> list[str]:
    chosen = [scope for scope in API_SCOPES if scope in set(scopes or ())]
    unknown = set(scopes or ()) - set(API_SCOPES)
    if unknown or not chosen:
        raise ValidationError({"scopes": _("Choose at least one of: read, write, send.")})
    return chosen


@transaction.atomic
def create_token(
    membership: Membership,
    *,
    name: str,
    scopes,
    expires_in_days: int = DEFAULT_EXPIRY_DAYS,
    request=None,
) -> tuple[ApiToken, str]:
    """Make a token for the member; returns it with the full token text (shown once)."""
    require_perm(membership, "tokens.manage")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name, e.g. the system using it.")})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": _("At most %(n)s characters.") % {"n": MAX_NAME_LENGTH}})
    scopes = clean_scopes(scopes)
    if expires_in_days not in EXPIRY_CHOICES_DAYS:
        raise ValidationError({"expires_in_days": _("Choose one of the offered lifetimes.")})
    prefix = _new_prefix()
    secret = _random(_SECRET_ALPHABET, SECRET_LENGTH)
    now = timezone.now()
    token = ApiToken.objects.create(
        organization=membership.organization,
        user=membership.user,
        name=name,
        prefix=prefix,
        token_hash=hash_secret(secret),
        scopes=scopes,
        created_at=now,
        expires_at=now + datetime.timedelta(days=expires_in_days),
    )
    record(
        Action.API_TOKEN_CREATED,
        actor=membership.user,
        organization=membership.organization,
        target=token,
        request=request,
        name=name,
        prefix=prefix,
        scopes=scopes,
        expires_at=token.expires_at.isoformat(),
    )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


@transaction.atomic
def revoke_token(membership: Membership, token: ApiToken, request=None) -> ApiToken:
    """Revoke a token at once (idempotent). The owner or an admin may do it."""
    token = get_token_for_member(membership, token.pk)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.revoked_by = membership.user
    token.save(update_fields=["revoked_at", "revoked_by"])
    record(
        Action.API_TOKEN_REVOKED,
        actor=membership.user,
        organization=membership.organization,
        target=token,
        request=request,
        name=token.name,
        prefix=token.prefix,
        owner=token.user.email,
    )
    _tell_admins_of_revocation(token, membership.user)
    return token


def _tell_admins_of_revocation(token: ApiToken, actor) -> None:
    """E-mail every active admin of the token's organisation after commit (a mail server
    that is down is logged; it never undoes the change). Revocation raises no alert, so
    this is its only message; creation is told by the alert alone."""
    admins = list(
        Membership.objects.active()
        .filter(organization_id=token.organization_id, role=Role.ADMIN)
        .values_list("user__email", flat=True)
    )
    if not admins:
        return
    token_id, language = token.pk, translation.get_language() or settings.LANGUAGE_CODE

    def send():
        fresh = ApiToken.objects.select_related("organization", "user").get(pk=token_id)
        path = reverse("api_tokens:list", args=[fresh.organization.slug])
        context = {
            "token": fresh,
            "actor": getattr(actor, "email", ""),
            "organization": fresh.organization,
            "url": f"{settings.SITE_URL}{path}",
        }
        with translation.override(language):
            subject = render_to_string("accounts/tokens_alert_subject.txt", context)
            text = render_to_string("accounts/tokens_alert_body.txt", context)
            html = render_to_string("accounts/tokens_alert_body.html", context)
        message = EmailMultiAlternatives(" ".join(subject.split()), text, to=admins)
        message.attach_alternative(html, "text/html")
        message.send()

    transaction.on_commit(send, robust=True)


# --- Checking a presented token ------------------------------------------------------------


def authenticate(raw: str) -> tuple[ApiToken, Membership]:
    """The token and the acting membership for ``raw`` (the text after ``Bearer``).

    Raises ``TokenRefused`` for a malformed, unknown, revoked or expired token, and for
    one whose owner is no longer an active member of its (active) organisation.
    """
    match = TOKEN_RE.fullmatch(raw.strip())
    if match is None:
        raise TokenRefused(_("Malformed token: expected tyr_<prefix>_<secret>."))
    prefix, secret = match.groups()
    token = ApiToken.objects.select_related("organization", "user").filter(prefix=prefix).first()
    # Compare against a hash even for an unknown prefix, so timing says nothing.
    expected = token.token_hash if token is not None else hash_secret("x" * SECRET_LENGTH)
    if not hmac.compare_digest(expected, hash_secret(secret)) or token is None:
        raise TokenRefused(_("Invalid token."))
    if token.revoked_at is not None:
        raise TokenRefused(_("This token was revoked."))
    if token.is_expired():
        raise TokenRefused(_("This token has expired."))
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(
            user_id=token.user_id,
            organization_id=token.organization_id,
            is_active=True,
            user__is_active=True,
            organization__is_active=True,
        )
        .first()
    )
    if membership is None:
        raise TokenRefused(_("This token's owner is no longer an active member."))
    return token, membership


def note_use(token: ApiToken, request) -> None:
    """Write down that ``token`` was used now by ``request`` (see the module docstring)."""
    now = timezone.now()
    ip = client_ip(request)
    previous = token.last_used_at
    new_address = ip != token.last_used_ip
    if not new_address and previous is not None and now - previous < LAST_USED_INTERVAL:
        return
    # Conditional on the value read: of concurrent requests only one writes (and audits).
    updated = ApiToken.objects.filter(pk=token.pk, last_used_at=previous).update(
        last_used_at=now, last_used_ip=ip
    )
    token.last_used_at, token.last_used_ip = now, ip
    if not updated:
        return
    if new_address or previous is None or now - previous >= AUDIT_USE_INTERVAL:
        record(
            Action.API_TOKEN_USED,
            actor=token.user,
            organization=token.organization,
            target=token,
            request=request,
            prefix=token.prefix,
            method=request.method,
            path=request.path[:200],
            new_address=new_address,
        )


def refuse_if_outside_allowlist(membership: Membership, request) -> None:
    """The organisation's IP allow-list applies to the API as to the pages (audited)."""
    organization = membership.organization
    if organization.allows_ip(client_ip(request)):
        return
    record(Action.IP_REFUSED, actor=membership.user, organization=organization, request=request)
    raise PermissionDenied("ip")
